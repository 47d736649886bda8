"""Logged tracebacks keep their frames and exception types but never the messages, which can
quote prompts, tool output or credentials."""

from __future__ import annotations

import io
import logging
import logging.config
from pathlib import Path

import pytest
import sqlean  # type: ignore[import-untyped]
from uvicorn.config import LOGGING_CONFIG

from threadline.api.log_redaction import ContentFreeTracebacks, content_free_traceback
from threadline.api.request_id import with_request_ids

_SECRET = "marker-" + "secret"
"""Built at run time, so the source lines a traceback quotes do not hold it."""


def _logged(logger: logging.Logger, handler: logging.Handler) -> str:
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        try:
            raise KeyError(_SECRET)
        except KeyError as cause:
            raise RuntimeError(_SECRET) from cause
    except RuntimeError:
        try:
            raise ValueError(_SECRET)
        except ValueError:
            logger.exception("unexpected error on %s", "POST /v1/responses")
    return stream.getvalue()


def test_a_logged_traceback_names_types_and_frames_but_no_message() -> None:
    logger = logging.getLogger("threadline.test.redaction")
    logger.propagate = False
    handler = logging.StreamHandler()
    handler.addFilter(ContentFreeTracebacks())
    logger.addHandler(handler)
    try:
        text = _logged(logger, handler)
    finally:
        logger.removeHandler(handler)
    assert _SECRET not in text
    assert "unexpected error on POST /v1/responses" in text
    assert "KeyError: (message withheld)" in text
    assert "RuntimeError: (message withheld)" in text
    assert "ValueError: (message withheld)" in text
    assert "direct cause of the following exception" in text
    assert "During handling of the above exception" in text
    assert text.index("KeyError") < text.index("RuntimeError") < text.index("ValueError")
    assert "test_log_redaction.py" in text  # the frames are kept


def test_the_server_logging_configuration_withholds_exception_messages() -> None:
    config = with_request_ids(LOGGING_CONFIG, "info")
    logging.config.dictConfig(config)
    logger = logging.getLogger("threadline")
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    text = _logged(logging.getLogger("threadline.engine.example"), handler)
    assert _SECRET not in text
    assert "ValueError: (message withheld)" in text


def test_a_logged_database_error_keeps_its_code_but_not_its_message(tmp_path: Path) -> None:
    database = sqlean.connect(tmp_path / "t.db")
    database.execute("CREATE TABLE t (v TEXT UNIQUE)")
    database.execute("INSERT INTO t VALUES (?)", (_SECRET,))
    try:
        database.execute("INSERT INTO t VALUES (?)", (_SECRET,))
    except sqlean.IntegrityError as exc:
        text = content_free_traceback(type(exc), exc, exc.__traceback__)
    else:
        pytest.fail("the second insert was not refused")
    finally:
        database.close()
    assert _SECRET not in text
    assert text.endswith("IntegrityError: (message withheld) [SQLITE_CONSTRAINT]")
