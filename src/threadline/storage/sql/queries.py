"""The statements that carry the storage promises, and the row <-> record mapping.

`CHAIN_CONTEXT` and `CONVERSATION_WITH_ITEMS` are each one statement, so loading the context of
a turn is one round trip however long the history is; so are the forms the context cache uses
(`…_WITH_GENERATION`: cached_contexts.py). The
statements of the hot path (a turn's reads and writes, the API key lookup) are built once,
with bound parameters (`:tenant`, `:response_id`, `:conversation_id`, …): building a recursive
CTE costs milliseconds of Python, and even a plain INSERT costs more to build than to run once
compiled, paid on every turn if built per call.
`metadata_matches` is the one place that reads inside a JSON column and therefore the one place
that knows the dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Double,
    Integer,
    Row,
    Select,
    String,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.expression import cast as sql_cast

from threadline.storage.base import (
    ConversationRecord,
    ConversationStatus,
    ResponseRecord,
    TenantScope,
)
from threadline.storage.encoding import response_fields, response_from_fields
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql.driver_statements import DriverStatement
from threadline.storage.sql.tables import (
    STATE_ROW,
    api_keys,
    background_jobs,
    conversations,
    items,
    responses,
    store_state,
)

# A response can only name an existing response as its previous one, so a chain has no cycle;
# the bound keeps a corrupted database from looping forever.
MAX_CHAIN_DEPTH = 1_000_000


_TENANT = bindparam("tenant", type_=String)
_RESPONSE_ID = bindparam("response_id", type_=String)
_CONVERSATION_ID = bindparam("conversation_id", type_=String)


def _chain_context(*, with_generation: bool = False) -> CompoundSelect[Any]:
    """Rows (part, k1, k2, data) for `load_chain`, in context order.

    `with_generation`: the marker row's k1 is the history generation, read in the same
    statement (one snapshot) as the items it tags.

    part 0 is a marker row present iff the response exists for the tenant (so an empty context
    and a missing response are told apart), with the response's status as its data; part 1 the
    conversation items that precede the chain's oldest response; part 2 the items of every
    response in the chain, oldest first.
    """
    the_response = and_(responses.c.id == _RESPONSE_ID, responses.c.tenant == _TENANT)
    base = select(
        responses.c.id,
        responses.c.previous_response_id,
        responses.c.conversation_id,
        responses.c.conversation_position,
        responses.c.status,
        literal_column("0", Integer).label("depth"),
    ).where(the_response)
    chain = base.cte("chain", recursive=True)
    parent = responses.alias("parent")
    chain = chain.union_all(
        select(
            parent.c.id,
            parent.c.previous_response_id,
            parent.c.conversation_id,
            parent.c.conversation_position,
            parent.c.status,
            chain.c.depth + 1,
        ).where(
            parent.c.id == chain.c.previous_response_id,
            parent.c.tenant == _TENANT,
            chain.c.depth < MAX_CHAIN_DEPTH,
        )
    )
    oldest = select(chain).order_by(chain.c.depth.desc()).limit(1).cte("oldest")

    marker = select(
        literal_column("0", Integer).label("part"),
        (
            HISTORY_GENERATION.scalar_subquery()
            if with_generation
            else literal_column("0", Integer)
        ).label("k1"),
        literal_column("0", Integer).label("k2"),
        responses.c.status.label("data"),
    ).where(the_response)
    prefix = (
        select(
            literal_column("1", Integer),
            literal_column("0", Integer),
            items.c.conversation_position,
            items.c.data,
        )
        .join(
            oldest,
            and_(
                items.c.conversation_id == oldest.c.conversation_id,
                items.c.conversation_position < oldest.c.conversation_position,
            ),
        )
        .where(items.c.tenant == _TENANT)
    )
    owned = select(
        literal_column("2", Integer), -chain.c.depth, items.c.position, items.c.data
    ).join(chain, items.c.response_id == chain.c.id)
    context = union_all(marker, prefix, owned)
    part, k1, k2 = (context.selected_columns[name] for name in ("part", "k1", "k2"))
    return context.order_by(part, k1, k2)


def _response_with_output() -> Select[Any]:
    """The response row, once per output item (or once with NULL data), in position order."""
    joined = responses.outerjoin(
        items, and_(items.c.response_id == responses.c.id, items.c.kind == "output")
    )
    return (
        select(responses, items.c.data.label("item_data"))
        .select_from(joined)
        .where(responses.c.id == _RESPONSE_ID, responses.c.tenant == _TENANT)
        .order_by(items.c.position)
    )


def _conversation_with_items(*, with_generation: bool = False) -> Select[Any]:
    """The conversation row, once per item (or once with NULL data), in conversation order;
    `with_generation`: with the history generation, read in the same snapshot."""
    joined = conversations.outerjoin(items, items.c.conversation_id == conversations.c.id)
    columns: list[Any] = [conversations, items.c.data.label("item_data")]
    if with_generation:
        columns.append(HISTORY_GENERATION.scalar_subquery().label("history_generation"))
    return (
        select(*columns)
        .select_from(joined)
        .where(conversations.c.id == _CONVERSATION_ID, conversations.c.tenant == _TENANT)
        .order_by(items.c.conversation_position)
    )


def released_by_owner() -> ColumnElement[str | None]:
    """`turn_owner`, cleared if it is `:claim_owner` (a turn being saved lets go of its claim
    in the statement that places it)."""
    c = conversations.c
    owner = bindparam("claim_owner", type_=String)
    return cast(ColumnElement[str | None], case((c.turn_owner == owner, None), else_=c.turn_owner))


def _claim_positions() -> ReturningUpdate[int]:
    """Move the conversation's `next_position` on by `:count`, mark it active at `:active_at`
    and release the claim of `:claim_owner`; returns the new `next_position` (no row: no such
    conversation). Bound as `:claim_tenant`, `:claim_conversation_id`, `:count`, `:active_at`,
    `:claim_owner`."""
    c = conversations.c
    active_at = bindparam("active_at", type_=Double)
    # An UPDATE reserves its columns' names for the SET clause; the WHERE binds use others.
    conversation_id = bindparam("claim_conversation_id", type_=String)
    tenant = bindparam("claim_tenant", type_=String)
    return (
        update(conversations)
        .where(c.id == conversation_id, c.tenant == tenant)
        .values(
            next_position=c.next_position + bindparam("count", type_=BigInteger),
            last_active_at=latest(c.last_active_at, active_at),
            turn_owner=released_by_owner(),
        )
        .returning(c.next_position)
    )


def _claimed_conversation() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The conversation the claim statements act on, bound as `:claim_conversation_id` and
    `:claim_tenant` (an UPDATE reserves its columns' names for the SET clause)."""
    c = conversations.c
    return (
        c.id == bindparam("claim_conversation_id", type_=String),
        c.tenant == bindparam("claim_tenant", type_=String),
    )


def _release_claim() -> ReturningUpdate[int]:
    """Release the claim of `:claim_owner` and return `next_position` (no row: no such
    conversation); for a turn saved without being appended."""
    c = conversations.c
    return (
        update(conversations)
        .where(
            *_claimed_conversation(),
        )
        .values(turn_owner=released_by_owner())
        .returning(c.next_position)
    )


def _claim_turn() -> Update:
    """Give the conversation to the turn `:claim_owner` until `:lease_until`, unless another
    turn's claim is live at `:now`; one row updated means claimed."""
    c = conversations.c
    owner = bindparam("claim_owner", type_=String)
    return (
        update(conversations)
        .where(
            *_claimed_conversation(),
            or_(
                c.turn_owner.is_(None),
                c.turn_owner == owner,
                c.turn_lease_until < bindparam("now", type_=Double),
            ),
        )
        .values(turn_owner=owner, turn_lease_until=bindparam("lease_until", type_=Double))
    )


def _renew_claim() -> Update:
    c = conversations.c
    return (
        update(conversations)
        .where(
            *_claimed_conversation(),
            c.turn_owner == bindparam("claim_owner", type_=String),
        )
        .values(turn_lease_until=bindparam("lease_until", type_=Double))
    )


def metadata_matches(
    dialect: str, key: str, value: str, column: ColumnElement[str] = conversations.c.metadata
) -> ColumnElement[bool]:
    """column[key] == value (a metadata column: a JSON object of strings), in the dialect's
    JSON syntax."""
    if dialect == "postgresql":
        return sql_cast(column, JSONB).op("->>")(key) == value
    # json_each instead of a json path: a metadata key may hold any character, even a quote.
    entries = func.json_each(column).table_valued("key", "value")
    return exists(
        select(literal_column("1"))
        .select_from(entries)
        .where(entries.c.key == key, entries.c.value == value)
    )


def latest(
    column: ColumnElement[float], value: float | ColumnElement[float]
) -> ColumnElement[float]:
    """The later of `column` and `value` (portable GREATEST)."""
    return cast(ColumnElement[float], case((column > value, column), else_=value))


HISTORY_GENERATION = select(store_state.c.history_generation).where(store_state.c.id == STATE_ROW)
CHAIN_CONTEXT = _chain_context()
CHAIN_CONTEXT_WITH_GENERATION = _chain_context(with_generation=True)
CONVERSATION_WITH_ITEMS_AND_GENERATION = _conversation_with_items(with_generation=True)
CONVERSATION_STATE = select(
    conversations, HISTORY_GENERATION.scalar_subquery().label("history_generation")
).where(conversations.c.id == _CONVERSATION_ID, conversations.c.tenant == _TENANT)
RESPONSE_WITH_OUTPUT = _response_with_output()
CONVERSATION_WITH_ITEMS = _conversation_with_items()
CLAIM_POSITIONS = _claim_positions()
RELEASE_CLAIM = _release_claim()
NEXT_POSITION = select(conversations.c.next_position).where(
    conversations.c.id == _CONVERSATION_ID, conversations.c.tenant == _TENANT
)
# Spelled as a literal so that SQLite's planner matches the partial index on running turns.
_RUNNING = responses.c.status == literal_column("'in_progress'")
FINISH_RESPONSE = DriverStatement(
    update(responses)
    .where(
        responses.c.id == bindparam("finish_id", type_=String),
        responses.c.tenant == bindparam("finish_tenant", type_=String),
    )
    .values(
        status=bindparam("status"),
        usage=bindparam("usage"),
        error=bindparam("error"),
        incomplete_details=bindparam("incomplete_details"),
        completed_at=bindparam("completed_at"),
        settings=bindparam("settings"),
        conversation_position=func.coalesce(
            bindparam("conversation_position", type_=BigInteger),
            responses.c.conversation_position,
        ),
        owner=None,
        lease_until=None,
    )
)
PLACE_INPUTS = (
    update(items)
    .where(
        items.c.response_id == bindparam("place_response_id", type_=String),
        items.c.kind == "input",
    )
    .values(
        conversation_id=bindparam("place_conversation_id", type_=String),
        conversation_position=bindparam("start", type_=BigInteger) + items.c.position,
    )
)
RENEW_TURNS = (
    update(responses)
    .where(_RUNNING, responses.c.owner == bindparam("renew_owner", type_=String))
    .values(lease_until=bindparam("lease_until", type_=Double))
)
FAIL_ABANDONED_TURNS = (
    update(responses)
    .where(
        _RUNNING,
        responses.c.lease_until < bindparam("now", type_=Double),
        # A background job's turn is queued again instead (jobs.requeue_abandoned).
        ~exists().where(background_jobs.c.response_id == responses.c.id),
    )
    .values(status="failed", error=bindparam("error", type_=String), owner=None, lease_until=None)
)
CLAIM_TURN = _claim_turn()
RENEW_CLAIM = _renew_claim()
CONVERSATION_EXISTS = select(conversations.c.id).where(
    conversations.c.id == _CONVERSATION_ID, conversations.c.tenant == _TENANT
)
# Executed with the row's values as parameters (one dict, or a list of them for items), as
# driver SQL (driver_statements.py) like FINISH_RESPONSE: every turn runs them.
INSERT_RESPONSE = DriverStatement(insert(responses))
INSERT_ITEMS = DriverStatement(insert(items))
LIVE_API_KEY = select(api_keys).where(
    api_keys.c.key_hash == bindparam("key_hash", type_=String), api_keys.c.revoked_at.is_(None)
)
ANY_API_KEY = select(api_keys.c.id).limit(1)
PING: Select[Any] = select(literal_column("1"))
BUMP_HISTORY_GENERATION = (
    update(store_state)
    .where(store_state.c.id == STATE_ROW)
    .values(history_generation=store_state.c.history_generation + 1)
)


def tenants_in(column: ColumnElement[str], scope: TenantScope) -> ColumnElement[bool]:
    """The condition on a `tenant` column of a retention sweep's scope."""
    if scope.only is not None:
        return column == scope.only
    if scope.excluding:
        return column.not_in(sorted(scope.excluding))
    return true()


def response_record(row: Row[Any], codec: ContentCodec) -> ResponseRecord:
    mapping = cast(Mapping[str, Any], row._mapping)
    return response_from_fields(mapping["id"], mapping, codec)


def response_values(
    record: ResponseRecord, conversation_position: int | None, codec: ContentCodec
) -> dict[str, Any]:
    return {"id": record.id, **response_fields(record, conversation_position, codec)}


def conversation_record(row: Row[Any]) -> ConversationRecord:
    m = row._mapping
    return ConversationRecord(
        id=m["id"],
        tenant=m["tenant"],
        created_at=m["created_at"],
        metadata=orjson.loads(m["metadata"]),
        status=cast(ConversationStatus, m["status"]),
        last_active_at=m["last_active_at"],
        status_changed_at=m["status_changed_at"],
    )
