"""The statements every turn writes, compiled once and handed to the driver as SQL.

`Connection.execute` of a Core statement looks up its compiled form (a cache key walk of the
statement), processes each parameter and builds an execution context for it: on the one SQLite
writer thread that was about half of the Python time of a turn's writes (docs/performance.md).
`DriverStatement` compiles its statement once per dialect and set of parameter names and runs
it with `Connection.exec_driver_sql`, which keeps what the rest of the code relies on:
SQLAlchemy's events (the tests' statement counts), its exception types (`IntegrityError`),
`rowcount`; each parameter goes through its type's bind processor for that dialect (SQLite's
`DateTime` writes microseconds, a generic `DateTime` does not), as Core would pass it, and a
required parameter missing from the row is refused as Core refuses it. A statement with column
defaults computed in Python, a parameter computed by a callable, or parameter names the dialect
escapes is left to `Connection.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

Params = Mapping[str, Any]
Statement = UpdateBase | Select[Any]


@dataclass(frozen=True, slots=True)
class _Sql:
    text: str
    positions: tuple[str, ...] | None
    """The parameters' order for a positional paramstyle; None for a named one."""
    fixed: dict[str, Any]
    """Values the statement itself gives (`.values(owner=None)`), by parameter name."""
    processors: dict[str, Callable[[Any], Any]]
    """The bind processors of the parameters whose type has one, by name."""


class DriverStatement:
    def __init__(self, statement: Statement) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, str, str, frozenset[str]], _Sql | None] = {}
        """By dialect, driver, paramstyle and parameter names; None: this one runs as Core."""

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> CursorResult[Any]:
        """Execute with one row of parameters, or many (every row with the same names)."""
        if isinstance(params, Mapping):
            rows: Sequence[Params] = [params]
        else:
            rows = params
        sql = self._sql(conn.dialect, rows[0])
        if sql is None:
            return conn.execute(self._statement, params)
        full = [{**sql.fixed, **row} for row in rows] if sql.fixed or sql.processors else rows
        if sql.processors:
            for row in full:
                for name, process in sql.processors.items():
                    row[name] = process(row[name])  # type: ignore[index]  # a copy, above
        values: list[Any] = (
            [tuple(row[name] for name in sql.positions) for row in full]
            if sql.positions is not None
            else [dict(row) for row in full]
        )
        return conn.exec_driver_sql(sql.text, values[0] if rows is not params else values)

    def _sql(self, dialect: Dialect, row: Params) -> _Sql | None:
        key = (dialect.name, dialect.driver, dialect.paramstyle, frozenset(row))
        if key not in self._compiled:
            self._compiled[key] = _compile(self._statement, dialect, row)
        return self._compiled[key]


def _compile(statement: Statement, dialect: Dialect, row: Params) -> _Sql | None:
    # `for_executemany`: no implicit `RETURNING` of an insert's generated key, which PostgreSQL
    # would send back and nothing here reads (a statement's own `.returning()` stays).
    compiled = statement.compile(dialect=dialect, column_keys=list(row), for_executemany=True)
    binds = compiled.binds
    if (
        compiled.insert_prefetch  # column defaults computed in Python: Core's job
        or compiled.update_prefetch
        or compiled.escaped_bind_names
        or any(bind.callable is not None or bind.expanding for bind in binds.values())
    ):
        return None
    for name, bind in binds.items():
        if bind.required and name not in row:
            raise InvalidRequestError(f"A value is required for bind parameter {name!r}")
    fixed = {name: bind.value for name, bind in binds.items() if name not in row}
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in binds.items():
        if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            processors[name] = process
    positions = tuple(compiled.positiontup or ()) if compiled.positional else None
    return _Sql(compiled.string, positions, fixed, processors)
