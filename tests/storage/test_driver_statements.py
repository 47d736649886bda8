"""`DriverStatement` (storage/sql/driver_statements.py) writes what `Connection.execute` of the
same Core statement writes, and is seen by SQLAlchemy's events as any statement is."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import InvalidRequestError

from threadline.storage.sql.driver_statements import DriverStatement

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("at", sa.Double),
    sa.Column("flag", sa.Boolean),
    sa.Column("owner", sa.String),
)
with_default = sa.Table(
    "with_default",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("n", sa.Integer, default=7),
)


def engine() -> sa.Engine:
    made = sa.create_engine("sqlite://")
    metadata.create_all(made)
    return made


def rows(conn: sa.Connection, table: sa.Table) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sa.select(table).order_by(table.c.id))]


def test_rows_written_by_the_driver_are_those_core_writes() -> None:
    insert = things.insert()
    driver = DriverStatement(insert)
    many = [{"id": f"d{n}", "at": n, "flag": n % 2 == 0, "owner": None} for n in range(3)]
    with engine().begin() as conn:
        driver.run(conn, {"id": "d-one", "at": 1, "flag": True, "owner": "me"})
        driver.run(conn, many)
        conn.execute(insert, {"id": "d-one-core", "at": 1, "flag": True, "owner": "me"})
        written = rows(conn, things)
    by_id = {row[0]: row[1:] for row in written}
    assert by_id["d-one"] == by_id["d-one-core"] == (1.0, True, "me")
    assert isinstance(by_id["d-one"][0], float)  # the Double's processor ran
    assert [by_id[f"d{n}"] for n in range(3)] == [
        (0.0, True, None),
        (1.0, False, None),
        (2.0, True, None),
    ]


def test_values_the_statement_gives_itself_are_sent_and_rowcount_is_kept() -> None:
    finish = DriverStatement(
        things.update()
        .where(things.c.id == sa.bindparam("which"))
        .values(at=sa.bindparam("at"), owner=None)
    )
    with engine().begin() as conn:
        conn.execute(things.insert(), {"id": "a", "at": 1.0, "flag": False, "owner": "me"})
        assert finish.run(conn, {"which": "a", "at": 2}).rowcount == 1
        assert finish.run(conn, {"which": "nowhere", "at": 2}).rowcount == 0
        assert rows(conn, things) == [("a", 2.0, False, None)]


def test_a_statement_with_python_side_defaults_is_left_to_core() -> None:
    driver = DriverStatement(with_default.insert())
    with engine().begin() as conn:
        driver.run(conn, {"id": "x"})
        assert rows(conn, with_default) == [("x", 7)]


def test_the_driver_statements_are_seen_by_sqlalchemys_events() -> None:
    made = engine()
    seen: list[str] = []
    event.listen(made, "before_cursor_execute", lambda *args: seen.append(args[2]))
    with made.begin() as conn:
        DriverStatement(things.insert()).run(
            conn, {"id": "a", "at": 1, "flag": True, "owner": None}
        )
    assert [s.split()[0] for s in seen] == ["INSERT"]


stamped = sa.Table(
    "stamped",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("at", sa.DateTime),
)


def test_each_parameter_is_processed_as_the_dialect_processes_its_type() -> None:
    """SQLite's `DateTime` writes microseconds, a generic `DateTime` nothing: a row the driver
    wrote must be found by the same comparison as one Core wrote."""
    at = datetime.datetime(2024, 1, 2, 3, 4, 5)
    with engine().begin() as conn:
        conn.execute(stamped.insert(), {"id": "core", "at": at})
        DriverStatement(stamped.insert()).run(conn, {"id": "driver", "at": at})
        found = conn.execute(sa.select(stamped.c.id).where(stamped.c.at == at)).scalars()
        assert sorted(found) == ["core", "driver"]


def test_a_required_parameter_missing_from_the_row_is_refused_as_core_refuses_it() -> None:
    finish = DriverStatement(
        things.update().where(things.c.id == sa.bindparam("which")).values(at=sa.bindparam("at"))
    )
    with engine().begin() as conn:
        conn.execute(things.insert(), {"id": "a", "at": 1.0, "flag": False, "owner": "me"})
        with pytest.raises(InvalidRequestError, match="'which'"):
            finish.run(conn, {"at": 2})
        with pytest.raises(InvalidRequestError, match="'at'"):
            finish.run(conn, {"which": "a"})
        assert rows(conn, things) == [("a", 1.0, False, "me")]
