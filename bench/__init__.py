"""Threadline's benchmark suite: figures, not tests. `python -m bench --help`."""
