"""A running turn's two writes, its start and its end, each as one statement (PostgreSQL); and
a turn that ended before its start was written (running_turns.py), written whole in one.

On PostgreSQL a write transaction costs round trips of its own: BEGIN, one per statement,
COMMIT. A turn's start (its response row and input items) and its end (the response finished,
the conversation's positions claimed, the input placed, the output inserted) are each written
here as one statement of data-modifying CTEs, run in autocommit: one round trip each, and
atomic, since a statement is its own transaction. The items travel as arrays (`unnest`), so the
statement's text, and the server's prepared plan of it, are the same whatever their number.

Every part of a statement is joined to the part it depends on, so that nothing is written when
the turn may not be: a start in a deleted conversation inserts no response and no items; an end
whose response was deleted, or whose conversation was, even while the statement ran, claims,
places and inserts nothing (both rows are locked first, so a deletion under way is waited
for). What the statement returns says which, and the caller raises as the transactional form
does
(responses.py, which SQLite uses: there a transaction costs no round trips, and SQLite has no
data-modifying CTEs).

A background turn's end (its job and webhook outbox too) keeps the transactional form.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import CTE

from threadline.errors import Conflict, ConversationDeleted, ResponseDeleted
from threadline.storage.sql import queries as q
from threadline.storage.sql.driver_statements import DriverStatement
from threadline.storage.sql.responses import PreparedTurn
from threadline.storage.sql.tables import conversations, items, responses

_ITEM_COLUMNS = ["tenant", "item_id", "response_id", "kind", "position"]
_ITEM_COLUMNS += ["conversation_id", "conversation_position", "created_at", "data"]


def _bind(name: str, type_: Any) -> Any:
    return bindparam(name, type_=type_)


# An UPDATE reserves its columns' names for its SET clause: the binds are named `turn_…`.
_ID = _bind("turn_id", String)
_TENANT = _bind("turn_tenant", String)
_CONVERSATION_ID = _bind("turn_conversation_id", String)
_CREATED_AT = _bind("turn_created_at", Double)


def _unnested_items() -> Any:
    """The items of the statement, from four arrays bound as `item_ids`, `positions`, `datas`
    and `kinds` (`kinds` unused, and bound empty, by a statement whose items are of one kind:
    unnest pads the shorter arrays with nulls)."""
    arrays = func.unnest(
        _bind("item_ids", ARRAY(String)),
        _bind("positions", ARRAY(Integer)),
        _bind("datas", ARRAY(Text)),
        _bind("kinds", ARRAY(String)),
    )
    columns = ("item_id", "position", "data", "kind")
    return arrays.table_valued(*columns).render_derived(name="unnested")


def _insert_items(kind: str | None, after: CTE, position: ColumnElement[Any] | None) -> CTE:
    """Insert the bound items, one per row of `after` (which returns one row or none), at
    conversation position `position` + their own position (None: in no conversation), all of
    `kind` (None: each of its own, bound in `kinds`)."""
    unnested = _unnested_items()
    placed = None if position is None else position + unnested.c.position
    rows = select(
        _TENANT,
        unnested.c.item_id,
        _ID,
        unnested.c.kind if kind is None else literal(kind, String),
        unnested.c.position,
        literal(None, String) if position is None else _CONVERSATION_ID,
        literal(None, BigInteger) if placed is None else placed,
        _CREATED_AT,
        unnested.c.data,
    ).select_from(after.join(unnested, true()))
    return insert(items).from_select(_ITEM_COLUMNS, rows).cte(f"{kind or 'turn'}_items")


def _insert_response(name: str, source: CTE | None, position: Any = None) -> CTE:
    """Insert the response bound by column name (prefixed `response_`), once per row of
    `source` (once if None), at conversation position `position` if given; returns its id."""
    columns = list(responses.columns)
    values: list[Any] = [_bind(f"response_{c.name}", c.type) for c in columns]
    if position is not None:
        values[columns.index(responses.c.conversation_position)] = position
    rows = select(*values)
    if source is not None:
        rows = rows.select_from(source)
    insert_ = insert(responses).from_select([c.name for c in columns], rows)
    return insert_.returning(responses.c.id).cte(name)


def _start(in_conversation: bool) -> Select[Any]:
    """Insert the running turn's response (bound by column name, prefixed `response_`) and its
    input items. In a conversation, the response notes where the conversation stands, and a
    deleted conversation inserts nothing. Returns how many responses were inserted."""
    if in_conversation:
        c = conversations.c
        source = (
            select(c.next_position)
            .where(c.id == _CONVERSATION_ID, c.tenant == _TENANT)
            .cte("conversation")
        )
        inserted = _insert_response("started", source, source.c.next_position)
    else:
        inserted = _insert_response("started", None)
    inputs = _insert_items("input", inserted, None)
    return select(select(func.count()).select_from(inserted).scalar_subquery()).add_cte(inputs)


def _finish(start: ColumnElement[Any] | None, after: CTE | None) -> CTE:
    """Finish the response (status, usage, error, … bound as `finish_…`) and end its lease,
    at conversation position `start` if it is given; only if `after` returned a row."""
    r = responses.c
    values: dict[str, Any] = {
        name: _bind(f"finish_{name}", responses.c[name].type)
        for name in ("status", "usage", "error", "incomplete_details", "completed_at", "settings")
    }
    values.update(owner=None, lease_until=None)
    if start is not None:
        values["conversation_position"] = start
    finish = update(responses).where(r.id == _ID, r.tenant == _TENANT).values(values)
    if after is not None:
        finish = finish.where(exists(select(after)))
    return finish.returning(r.id).cte("finished")


def _locked_rows() -> tuple[CTE, CTE]:
    """The turn's conversation and response, locked in that order (the order of the
    transactional form): a deletion of either that is under way is waited for, after which
    the row is not there, so nothing else of the statement writes."""
    c, r = conversations.c, responses.c
    # FOR NO KEY UPDATE: the lock the UPDATEs take anyway, which a deletion waits for but a
    # concurrent insert of items referring to the row (FOR KEY SHARE) does not. MATERIALIZED:
    # each is run once, as itself, whatever PostgreSQL would otherwise inline.
    conversation = (
        select(c.id)
        .where(c.id == _CONVERSATION_ID, c.tenant == _TENANT)
        .with_for_update(key_share=True)
        .cte("locked_conversation")
        .prefix_with("MATERIALIZED")
    )
    response = (
        select(r.id)
        .where(r.id == _ID, r.tenant == _TENANT, exists(select(conversation)))
        .with_for_update(key_share=True)
        .cte("locked_response")
        .prefix_with("MATERIALIZED")
    )
    return conversation, response


def _claim(locked: CTE | None, *, append: bool) -> CTE:
    """Release the turn's claim on its conversation; appended, also move `next_position` on by
    `count` and mark it active at `active_at`. Returns where the turn starts (appended) or where
    the conversation stood. Only if the response was `locked` (when given)."""
    c = conversations.c
    count = _bind("count", BigInteger)
    values: dict[str, Any] = {"turn_owner": q.released_by_owner()}
    if append:
        values["next_position"] = c.next_position + count
        values["last_active_at"] = q.latest(c.last_active_at, _bind("active_at", Double))
    start = (c.next_position - count) if append else c.next_position
    claim = update(conversations).where(c.id == _CONVERSATION_ID, c.tenant == _TENANT)
    if locked is not None:
        claim = claim.where(exists(select(locked)))
    return claim.values(values).returning(start.label("start")).cte("claim")


def _end(*, in_conversation: bool, append: bool) -> Select[Any]:
    """End a started turn: finish its response and insert its output; in a conversation,
    release the turn's claim, and, appended, place its input and output at the end of it,
    contiguously. Returns how many responses were finished, where the turn starts in the
    conversation (or where the conversation stood), and whether the conversation is there."""
    if not in_conversation:
        finished = _finish(None, None)
        outputs = _insert_items("output", finished, None)
        counted = select(func.count()).select_from(finished).scalar_subquery()
        nothing = literal(None, BigInteger)
        return select(counted, nothing, literal(True)).add_cte(outputs)
    locked_conversation, locked = _locked_rows()
    claim = _claim(locked, append=append)
    start = select(claim.c.start).scalar_subquery()
    finished = _finish(start if append else None, claim)
    parts = [_insert_items("output", finished, start if append else None)]
    if append:
        i = items.c
        placed = (
            update(items)
            .where(i.response_id == _ID, i.kind == "input", exists(select(finished)))
            .values(conversation_id=_CONVERSATION_ID, conversation_position=start + i.position)
            .cte("placed_inputs")
        )
        parts.append(placed)
    counted = select(func.count()).select_from(finished).scalar_subquery()
    return select(counted, start, exists(select(locked_conversation))).add_cte(*parts)


def _whole(*, in_conversation: bool, append: bool) -> Select[Any]:
    """Insert an ended turn that was never started: its response (bound by column name,
    prefixed `response_`) and all its items, input and output (`kinds`); in a conversation,
    release the turn's claim and, appended, place its items at the end of it, contiguously.
    The claim's UPDATE locks the conversation, so a deletion under way is waited for, after
    which it finds no row and nothing is inserted. Returns how many responses were inserted
    (none: the conversation is not there) and where the turn starts in the conversation (or
    where the conversation stood)."""
    claim = _claim(None, append=append) if in_conversation else None
    if claim is not None:
        inserted = _insert_response("inserted", claim, claim.c.start)
    else:
        inserted = _insert_response("inserted", None)
    start = None if claim is None else select(claim.c.start).scalar_subquery()
    turn_items = _insert_items(None, inserted, start if append else None)
    counted = select(func.count()).select_from(inserted).scalar_subquery()
    return select(counted, start if start is not None else literal(None, BigInteger)).add_cte(
        turn_items
    )


# Run as driver SQL (driver_statements.py): SQLAlchemy would otherwise walk each of these
# trees of CTEs for its cache key on every turn (30-80 µs each, measured).
START_ALONE = DriverStatement(_start(in_conversation=False))
START_IN_CONVERSATION = DriverStatement(_start(in_conversation=True))
END_ALONE = DriverStatement(_end(in_conversation=False, append=False))
END_APPENDED = DriverStatement(_end(in_conversation=True, append=True))
END_RELEASED = DriverStatement(_end(in_conversation=True, append=False))
WHOLE_ALONE = DriverStatement(_whole(in_conversation=False, append=False))
WHOLE_APPENDED = DriverStatement(_whole(in_conversation=True, append=True))
WHOLE_RELEASED = DriverStatement(_whole(in_conversation=True, append=False))


def _item_arrays(rows: list[dict[str, Any]], *, kinds: bool = False) -> dict[str, list[Any]]:
    return {
        "item_ids": [row["item_id"] for row in rows],
        "positions": [row["position"] for row in rows],
        "datas": [row["data"] for row in rows],
        "kinds": [row["kind"] for row in rows] if kinds else [],
    }


def start_turn(conn: Connection, row: dict[str, Any], item_rows: list[dict[str, Any]]) -> None:
    """`responses.start_turn` in one statement."""
    conversation_id = row["conversation_id"]
    params = {f"response_{name}": value for name, value in row.items()}
    params.update(
        turn_id=row["id"],
        turn_tenant=row["tenant"],
        turn_conversation_id=conversation_id,
        turn_created_at=row["created_at"],
        **_item_arrays(item_rows),
    )
    statement = START_ALONE if conversation_id is None else START_IN_CONVERSATION
    try:
        inserted = statement.run(conn, params).scalar()
    except IntegrityError as exc:
        raise Conflict(f"A response with id '{row['id']}' already exists") from exc
    if not inserted:
        raise ConversationDeleted(str(conversation_id))


def _turn_params(turn: PreparedTurn) -> dict[str, Any]:
    """What an end or a whole turn binds besides its response's columns and its items."""
    return {
        "turn_id": turn.response_id,
        "turn_tenant": turn.tenant,
        "turn_conversation_id": turn.conversation_id,
        "turn_created_at": turn.response_row["created_at"],
        "count": len(turn.item_rows),
        "active_at": turn.active_at,
        "claim_owner": turn.response_id,
    }


def end_turn(conn: Connection, turn: PreparedTurn) -> int | None:
    """`responses.save_turn` of a started foreground turn, in one statement: the conversation
    position its items start at, if it was appended."""
    row = turn.response_row
    params: dict[str, Any] = {
        f"finish_{name}": row[name]
        for name in ("status", "usage", "error", "incomplete_details", "completed_at", "settings")
    }
    params.update(_turn_params(turn), **_item_arrays(turn.item_rows[turn.inputs :]))
    if turn.conversation_id is None:
        statement = END_ALONE
    else:
        statement = END_APPENDED if turn.append else END_RELEASED
    finished, start, conversation_there = tuple(statement.run(conn, params).one())
    if not finished:  # then nothing was written
        if not conversation_there:
            raise ConversationDeleted(turn.conversation_id or "")
        raise ResponseDeleted(turn.response_id)
    return int(start) if turn.append and turn.conversation_id is not None else None


def save_turn(conn: Connection, turn: PreparedTurn) -> int | None:
    """`responses.save_turn` of a foreground turn never started, in one statement: the
    conversation position its items start at, if it was appended."""
    row = turn.response_row
    params: dict[str, Any] = {f"response_{c.name}": row.get(c.name) for c in responses.columns}
    params.update(_turn_params(turn), **_item_arrays(turn.item_rows, kinds=True))
    if turn.conversation_id is None:
        statement = WHOLE_ALONE
    else:
        statement = WHOLE_APPENDED if turn.append else WHOLE_RELEASED
    try:
        inserted, start = tuple(statement.run(conn, params).one())
    except IntegrityError as exc:
        raise Conflict(f"A response with id '{turn.response_id}' already exists") from exc
    if not inserted:  # its conversation is not there: nothing was written
        raise ConversationDeleted(turn.conversation_id or "")
    return int(start) if turn.append and turn.conversation_id is not None else None
