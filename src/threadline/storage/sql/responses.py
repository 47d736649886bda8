"""The response half of the SQL store: each operation's body, as a function of a sync
`Connection` that databases.py runs in one call (a write in one transaction).

A turn's rows are built (and its JSON serialized) by `prepare_turn`, on the caller's side,
before the write is queued, so the write transaction, and SQLite's write lock with it, is held
only for the statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from threadline.errors import (
    Conflict,
    ConversationDeleted,
    PreviousResponseInProgress,
    ResponseDeleted,
)
from threadline.storage.base import (
    Item,
    ItemPage,
    Order,
    ResponseRecord,
    StoredResponse,
    TenantScope,
    TurnRecord,
    TurnStart,
)
from threadline.storage.encryption import PLAIN, ContentCodec
from threadline.storage.sql import jobs, webhooks
from threadline.storage.sql import queries as q
from threadline.storage.sql.items import (
    claim_positions,
    item_page,
    item_row,
    place_in_conversation,
    release_items,
)
from threadline.storage.sql.tables import items as item_table
from threadline.storage.sql.tables import responses

_UNFINISHED = ("in_progress", "queued")


@dataclass(slots=True)
class PreparedTurn:
    """The rows of one `save_turn`, ready to insert."""

    tenant: str
    response_id: str
    response_row: dict[str, Any]
    item_rows: list[dict[str, Any]]
    conversation_id: str | None
    append: bool
    active_at: float
    started: bool
    background: bool
    inputs: int


def start_row(start: TurnStart, codec: ContentCodec) -> dict[str, Any]:
    """The running turn's response row, built on the caller's side (the record goes on
    changing while the write waits its turn)."""
    row = q.response_values(start.response, None, codec)
    row.update(owner=start.owner, lease_until=start.lease_until)
    return row


def start_turn(conn: Connection, row: dict[str, Any], item_rows: list[dict[str, Any]]) -> None:
    """Insert the running turn's response row and input items; a conversation turn notes where
    the conversation stands (a deleted conversation raises `ConversationDeleted`)."""
    conversation_id = row["conversation_id"]
    if conversation_id is not None:
        row["conversation_position"] = conn.scalar(
            q.NEXT_POSITION, {"tenant": row["tenant"], "conversation_id": conversation_id}
        )
        if row["conversation_position"] is None:
            raise ConversationDeleted(conversation_id)
    try:
        q.INSERT_RESPONSE.run(conn, row)
    except IntegrityError as exc:
        raise Conflict(f"A response with id '{row['id']}' already exists") from exc
    if item_rows:
        q.INSERT_ITEMS.run(conn, item_rows)


def renew_turns(conn: Connection, owner: str, lease_until: float) -> int:
    renewed = conn.execute(q.RENEW_TURNS, {"renew_owner": owner, "lease_until": lease_until})
    return int(renewed.rowcount)


def fail_abandoned_turns(conn: Connection, now: float, error: str) -> int:
    ended = conn.execute(q.FAIL_ABANDONED_TURNS, {"now": now, "error": error})
    return int(ended.rowcount)


def prepare_turn(turn: TurnRecord, codec: ContentCodec) -> PreparedTurn:
    record = turn.response
    inputs = len(turn.input_items)
    # A started turn's input rows were inserted when it started: here they only count and
    # feed the context cache, so they are not sealed again.
    input_codec = PLAIN if turn.started else codec
    rows = [
        item_row(
            input_codec if i < inputs else codec,
            record.tenant,
            record.created_at,
            item,
            response_id=record.id,
            kind="input" if i < inputs else "output",
            position=i,
        )
        for i, item in enumerate([*turn.input_items, *turn.output_items])
    ]
    return PreparedTurn(
        tenant=record.tenant,
        response_id=record.id,
        response_row=q.response_values(record, None, codec),
        item_rows=rows,
        conversation_id=record.conversation_id,
        append=turn.append_to_conversation,
        active_at=record.completed_at if record.completed_at is not None else record.created_at,
        started=turn.started,
        background=turn.background,
        inputs=inputs,
    )


def save_turn(conn: Connection, turn: PreparedTurn) -> int | None:
    """Insert the turn (or, if it was started, finish it); the conversation position its items
    start at, if it was appended."""
    if turn.started:
        return _finish_turn(conn, turn)
    rows = turn.item_rows
    start = _end_in_conversation(conn, turn)
    turn.response_row["conversation_position"] = start
    try:
        q.INSERT_RESPONSE.run(conn, turn.response_row)
    except IntegrityError as exc:
        raise Conflict(f"A response with id '{turn.response_id}' already exists") from exc
    if rows:
        q.INSERT_ITEMS.run(conn, rows)
    return start if turn.append else None


def _end_in_conversation(conn: Connection, turn: PreparedTurn) -> int | None:
    """Release the turn's claim on its conversation, placing its items at the end of it if it
    is appended; where the turn stands in the conversation (appended: its first position; not
    appended, a failed turn: where the conversation stood, so that continuing the response
    starts from the conversation before it). A deleted conversation raises
    `ConversationDeleted`."""
    conversation_id = turn.conversation_id
    if conversation_id is None:
        return None
    if turn.append:
        rows = turn.item_rows
        start = claim_positions(
            conn, turn.tenant, conversation_id, len(rows), turn.active_at, turn.response_id
        )
        if start is not None:
            place_in_conversation(rows, conversation_id, start)
    else:
        claim = {
            "claim_tenant": turn.tenant,
            "claim_conversation_id": conversation_id,
            "claim_owner": turn.response_id,
        }
        start = conn.scalar(q.RELEASE_CLAIM, claim)
    if start is None:
        raise ConversationDeleted(conversation_id)
    return int(start)


def _finish_turn(conn: Connection, turn: PreparedTurn) -> int | None:
    """End a started turn: its response row is updated, its output inserted, and a completed
    turn's input and output placed in its conversation, contiguously."""
    conversation_id = turn.conversation_id
    outputs = turn.item_rows[turn.inputs :]
    where = _end_in_conversation(conn, turn)
    # A turn not appended keeps the position its start noted.
    start = where if turn.append else None
    row = turn.response_row
    finished = q.FINISH_RESPONSE.run(
        conn,
        {
            "finish_id": turn.response_id,
            "finish_tenant": turn.tenant,
            "status": row["status"],
            "usage": row["usage"],
            "error": row["error"],
            "incomplete_details": row["incomplete_details"],
            "completed_at": row["completed_at"],
            "settings": row["settings"],
            "conversation_position": start,
        },
    )
    if finished.rowcount == 0:
        raise ResponseDeleted(turn.response_id)
    if turn.background:
        jobs.end_job(conn, turn.response_id)
        webhooks.write_outbox(conn, turn.tenant, turn.response_id, row["status"])
    if start is not None and turn.inputs:
        conn.execute(
            q.PLACE_INPUTS,
            {
                "place_response_id": turn.response_id,
                "place_conversation_id": conversation_id,
                "start": start,
            },
        )
    if outputs:
        q.INSERT_ITEMS.run(conn, outputs)
    return start


def get_response(
    conn: Connection, codec: ContentCodec, tenant: str, response_id: str
) -> StoredResponse | None:
    params = {"tenant": tenant, "response_id": response_id}
    rows = conn.execute(q.RESPONSE_WITH_OUTPUT, params).all()
    if not rows:
        return None
    output = [codec.load(row.item_data) for row in rows if row.item_data is not None]
    return StoredResponse(record=q.response_record(rows[0], codec), output=output)


def scan_responses(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    after: str | None,
    limit: int,
    created_before: float | None,
) -> list[ResponseRecord]:
    stmt = select(responses).where(responses.c.tenant == tenant)
    if created_before is not None:
        stmt = stmt.where(responses.c.created_at < created_before)
    if after is not None:
        stmt = stmt.where(responses.c.id > after)
    rows = conn.execute(stmt.order_by(responses.c.id).limit(limit)).all()
    return [q.response_record(row, codec) for row in rows]


def delete_response(conn: Connection, tenant: str, response_id: str) -> bool:
    mine = select(responses.c.id).where(responses.c.id == response_id, responses.c.tenant == tenant)
    jobs.forget(conn, mine)
    release_items(conn, item_table.c.response_id == response_id, item_table.c.tenant == tenant)
    deleted = conn.execute(
        delete(responses).where(responses.c.id == response_id, responses.c.tenant == tenant)
    )
    if deleted.rowcount == 0:
        return False
    conn.execute(q.BUMP_HISTORY_GENERATION)
    return True


def list_input_items(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    response_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
) -> ItemPage | None:
    owner = select(responses.c.id).where(
        responses.c.id == response_id, responses.c.tenant == tenant
    )
    members = and_(item_table.c.response_id == response_id, item_table.c.kind == "input")
    key = item_table.c.position
    return item_page(conn, codec, owner, members, key, after=after, limit=limit, order=order)


def load_chain(
    conn: Connection, codec: ContentCodec, tenant: str, response_id: str
) -> list[Item] | None:
    texts = _chain_texts(conn, tenant, response_id)
    return None if texts is None else [codec.load(text) for text in texts]


def _chain_texts(conn: Connection, tenant: str, response_id: str) -> list[str] | None:
    """The stored JSON of the chain's context items, in order; None if there is no such
    response for the tenant."""
    params = {"tenant": tenant, "response_id": response_id}
    rows = conn.execute(q.CHAIN_CONTEXT, params).all()
    if not rows:
        return None
    if rows[0].data in _UNFINISHED:
        raise PreviousResponseInProgress(response_id)
    return [row.data for row in rows if row.part != 0]


@dataclass(slots=True)
class ChainState:
    generation: int | None
    found: bool
    items: list[Item] | None
    """None when the caller's cached copy is still current (or the response is not found)."""
    size: int = 0
    """JSON bytes of `items`."""


def load_chain_unless_cached(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    response_id: str,
    cached_generation: int | None,
) -> ChainState:
    """The chain's context, unless the caller's copy, read at `cached_generation`, is still
    current. With a copy, the generation alone is read first: it is current on nearly every
    turn, and that small read is all a hit costs, whatever the chain's length. Without a copy,
    or with one a deletion has made stale, the chain is read with the generation in one
    statement, from one snapshot."""
    if cached_generation is not None:
        current = conn.scalar(q.HISTORY_GENERATION)
        if current is not None and int(current) == cached_generation:
            # Nothing was deleted since the copy was read: the response is still there.
            return ChainState(cached_generation, True, None)
    params = {"tenant": tenant, "response_id": response_id}
    rows = conn.execute(q.CHAIN_CONTEXT_WITH_GENERATION, params).all()
    if not rows:
        return ChainState(None, False, None)
    marker = rows[0]
    if marker.data in _UNFINISHED:
        raise PreviousResponseInProgress(response_id)
    generation = None if marker.k1 is None else int(marker.k1)
    texts = [row.data for row in rows[1:]]
    items = [codec.load(text) for text in texts]
    return ChainState(generation, True, items, sum(len(text) for text in texts))


def get_items(
    conn: Connection, codec: ContentCodec, tenant: str, item_ids: list[str]
) -> dict[str, Item]:
    stmt = (
        select(item_table.c.item_id, item_table.c.data)
        .where(item_table.c.tenant == tenant, item_table.c.item_id.in_(item_ids))
        .order_by(item_table.c.seq)
    )
    found: dict[str, Item] = {}
    for item_id, data in conn.execute(stmt).all():
        # An id sent back by a client can be stored twice; the first write is the original.
        if item_id not in found:
            found[item_id] = codec.load(data)
    return found


def delete_responses_batch(
    conn: Connection, cutoff: float, scope: TenantScope, batch: int
) -> int | None:
    """Delete up to `batch` responses created before `cutoff` (of the tenants in `scope`)
    with the items they own; how many were deleted, or None if none was left to delete."""
    r = responses.c
    oldest = select(r.id).where(r.created_at < cutoff, q.tenants_in(r.tenant, scope)).limit(batch)
    ids = list(conn.scalars(oldest).all())
    if not ids:
        return None
    jobs.forget(conn, ids)
    release_items(conn, item_table.c.response_id.in_(ids))
    deleted = conn.execute(delete(responses).where(responses.c.id.in_(ids)))
    conn.execute(q.BUMP_HISTORY_GENERATION)
    # rowcount, not len(ids): a sweep on another replica may have taken some already.
    return deleted.rowcount
