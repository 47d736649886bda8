"""The Files use case: the `/v1/files` endpoints (`service.py`), and file inputs made into
what a provider can read (`inputs.py`, text extracted by `text.py`)."""
