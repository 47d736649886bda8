"""Where `threadline export` writes its records: NDJSON (one object per line, as the HTTP export
sends them) or Parquet (one row per record; pyarrow, installed with `threadline[parquet]`).

Both write as they go: NDJSON line by line, Parquet a row group per `ROW_GROUP` records, so
memory stays flat however many records an export has.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import IO, Any

import orjson

ROW_GROUP = 2000
# The record fields that are columns of their own; the rest of a record (the object) is `data`.
_COLUMNS = ("type", "id", "deleted", "changed_at", "conversation_id", "position")


class Sink(abc.ABC):
    @abc.abstractmethod
    def write(self, record: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class NdjsonSink(Sink):
    def __init__(self, stream: IO[bytes], *, owned: bool = False) -> None:
        self._stream = stream
        self._owned = owned

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        self._stream.flush()
        if self._owned:
            self._stream.close()


class ParquetSink(Sink):
    """Columns `type`, `id`, `deleted`, `changed_at`, `conversation_id`, `position`, and
    `data`: the record's object (`response` and `input_items`, `conversation`, `item`,
    `chat_completion` and `messages`) as JSON text, null for a tombstone."""

    def __init__(self, path: Path) -> None:
        try:
            import pyarrow as pa  # noqa: PLC0415 (an optional extra, needed only here)
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError as exc:
            raise MissingParquet from exc
        self._pa = pa
        self._schema = pa.schema(
            [
                ("type", pa.string()),
                ("id", pa.string()),
                ("deleted", pa.bool_()),
                ("changed_at", pa.float64()),
                ("conversation_id", pa.string()),
                ("position", pa.int64()),
                ("data", pa.string()),
            ]
        )
        self._writer = pq.ParquetWriter(str(path), self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        row = {column: record.get(column) for column in _COLUMNS}
        rest = {key: value for key, value in record.items() if key not in _COLUMNS}
        row["data"] = orjson.dumps(rest).decode() if rest else None
        self._rows.append(row)
        if len(self._rows) == ROW_GROUP:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        if self._rows:
            table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table)
            self._rows = []


class MissingParquet(Exception):
    """pyarrow is not installed."""
