"""The `threadline` command line: one module per command group."""
