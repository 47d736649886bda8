"""The background-job half of the SQL store: each operation's body, as a function of a sync
`Connection` run in one call (a write in one transaction).

A job is taken with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas taking at once
each get different jobs and none waits on another's; SQLite has one writer, so its take is
whole by construction (the clause renders as nothing there). The lease of a taken job is its
response's (`responses.owner`, `lease_until`), renewed with every running turn's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from threadline.errors import Conflict
from threadline.storage.base import CancelOutcome, Item, Job
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql import queries as q
from threadline.storage.sql import webhooks
from threadline.storage.sql.tables import background_jobs as jobs
from threadline.storage.sql.tables import items, responses
from threadline.storage.sql.tables import response_events as events


def enqueue_turn(
    conn: Connection,
    response_row: dict[str, Any],
    item_rows: list[dict[str, Any]],
    job_row: dict[str, Any],
) -> None:
    try:
        q.INSERT_RESPONSE.run(conn, response_row)
    except IntegrityError as exc:
        raise Conflict(f"A response with id '{response_row['id']}' already exists") from exc
    if item_rows:
        q.INSERT_ITEMS.run(conn, item_rows)
    conn.execute(jobs.insert(), job_row)


def count_queued(conn: Connection, tenant: str | None) -> int:
    waiting = select(func.count()).where(jobs.c.owner.is_(None))
    if tenant is not None:
        waiting = waiting.where(jobs.c.tenant == tenant)
    return int(conn.scalar(waiting) or 0)


def any_free(conn: Connection) -> bool:
    """Whether a job waits to be taken (a read: a look at an empty queue, at every poll of
    every process, takes no write transaction). One waiting behind an earlier job of its
    conversation counts: the take then finds nothing, as it would have."""
    return conn.scalar(select(jobs.c.seq).where(jobs.c.owner.is_(None)).limit(1)) is not None


# The statements of a take and of a job's end, built once: a busy queue runs them for every
# job, on the one writer thread (SQLite) where each statement built per call cost its
# construction and cache key.
_IDS: BindParameter[str] = bindparam("ids", expanding=True)
_OWNER = bindparam("owner", type_=String)


def _free_jobs() -> Select[tuple[str, str]]:
    earlier = jobs.alias("earlier")
    waiting_behind = exists().where(
        earlier.c.conversation_id == jobs.c.conversation_id, earlier.c.seq < jobs.c.seq
    )
    return (
        select(jobs.c.response_id, jobs.c.request)
        .where(jobs.c.owner.is_(None), ~waiting_behind)
        .order_by(jobs.c.seq)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=jobs)
    )


_FREE_JOBS = _free_jobs()
_OWN_JOBS = update(jobs).where(jobs.c.response_id.in_(_IDS)).values(owner=_OWNER)
_START_JOBS = (
    update(responses)
    .where(responses.c.id.in_(_IDS))
    .values(status="in_progress", owner=_OWNER, lease_until=bindparam("lease_until"))
)
_TAKEN_RESPONSES = select(responses).where(responses.c.id.in_(_IDS))
_TAKEN_INPUTS = (
    select(items.c.response_id, items.c.data)
    .where(items.c.response_id.in_(_IDS), items.c.kind == "input")
    .order_by(items.c.response_id, items.c.position)
)
_END_JOB = delete(jobs).where(jobs.c.response_id == bindparam("response_id", type_=String))


def take_jobs(
    conn: Connection, codec: ContentCodec, owner: str, now: float, lease_until: float, limit: int
) -> list[Job]:
    taken = conn.execute(_FREE_JOBS, {"limit": limit}).all()
    if not taken:
        return []
    ids = [row.response_id for row in taken]
    conn.execute(_OWN_JOBS, {"ids": ids, "owner": owner})
    conn.execute(_START_JOBS, {"ids": ids, "owner": owner, "lease_until": lease_until})
    records = {
        row.id: q.response_record(row, codec)
        for row in conn.execute(_TAKEN_RESPONSES, {"ids": ids}).all()
    }
    inputs: dict[str, list[Item]] = {response_id: [] for response_id in ids}
    for row in conn.execute(_TAKEN_INPUTS, {"ids": ids}):
        inputs[row.response_id].append(codec.load(row.data))
    return [
        Job(records[row.response_id], codec.load(row.request), inputs[row.response_id])
        for row in taken
    ]


def requeue_jobs(conn: Connection, which: ColumnElement[bool], error: str) -> int:
    """Give back the taken jobs `which` selects (over `background_jobs`): queued again, or
    ended `failed` if a step with side effects ran. How many were queued again."""
    rows = conn.execute(
        select(jobs.c.response_id, jobs.c.tenant, jobs.c.side_effect)
        .where(jobs.c.owner.is_not(None), which)
        .with_for_update(of=jobs)
    ).all()
    again = [row.response_id for row in rows if not row.side_effect]
    failed = [row.response_id for row in rows if row.side_effect]
    for row in rows:
        if row.side_effect:
            webhooks.write_outbox(conn, row.tenant, row.response_id, "failed")
    if again:
        conn.execute(update(jobs).where(jobs.c.response_id.in_(again)).values(owner=None))
        conn.execute(
            update(responses)
            .where(responses.c.id.in_(again))
            .values(status="queued", owner=None, lease_until=None)
        )
        conn.execute(delete(events).where(events.c.response_id.in_(again)))
    if failed:
        conn.execute(delete(jobs).where(jobs.c.response_id.in_(failed)))
        conn.execute(
            update(responses)
            .where(responses.c.id.in_(failed))
            .values(status="failed", error=error, owner=None, lease_until=None)
        )
    return len(again)


def requeue_job(conn: Connection, response_id: str, error: str) -> bool:
    return requeue_jobs(conn, jobs.c.response_id == response_id, error) == 1


def requeue_abandoned(conn: Connection, now: float, error: str) -> int:
    lapsed = select(responses.c.id).where(
        responses.c.status == "in_progress", responses.c.lease_until < now
    )
    return requeue_jobs(conn, jobs.c.response_id.in_(lapsed), error)


def note_side_effect(conn: Connection, response_id: str) -> None:
    conn.execute(update(jobs).where(jobs.c.response_id == response_id).values(side_effect=True))


def cancel_job(
    conn: Connection, codec: ContentCodec, tenant: str, response_id: str
) -> CancelOutcome:
    found = conn.execute(
        select(responses.c.status, responses.c.settings, jobs.c.owner, jobs.c.seq)
        .select_from(responses.outerjoin(jobs, jobs.c.response_id == responses.c.id))
        .where(responses.c.id == response_id, responses.c.tenant == tenant)
        .with_for_update(of=responses)
    ).first()
    if found is None:
        return "missing"
    if found.seq is None:
        background = bool(codec.load(found.settings).get("background"))
        return "ended" if background else "not_background"
    if found.owner is not None:
        conn.execute(
            update(jobs).where(jobs.c.response_id == response_id).values(cancel_requested=True)
        )
        return "requested"
    conn.execute(delete(jobs).where(jobs.c.response_id == response_id))
    conn.execute(update(responses).where(responses.c.id == response_id).values(status="cancelled"))
    webhooks.write_outbox(conn, tenant, response_id, "cancelled")
    return "cancelled"


def cancel_requested(conn: Connection, owner: str) -> list[str]:
    asked = select(jobs.c.response_id).where(jobs.c.owner == owner, jobs.c.cancel_requested)
    return list(conn.scalars(asked).all())


def end_job(conn: Connection, response_id: str) -> None:
    conn.execute(_END_JOB, {"response_id": response_id})


def append_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(events.insert(), rows)


def read_events(
    conn: Connection, codec: ContentCodec, tenant: str, response_id: str, after: int, limit: int
) -> list[Item] | None:
    found = conn.scalar(
        select(responses.c.id).where(responses.c.id == response_id, responses.c.tenant == tenant)
    )
    if found is None:
        return None
    rows = conn.scalars(
        select(events.c.data)
        .where(and_(events.c.response_id == response_id, events.c.sequence_number > after))
        .order_by(events.c.sequence_number)
        .limit(limit)
    ).all()
    return [codec.load(data) for data in rows]


def forget(conn: Connection, response_ids: Any) -> None:
    """Delete the jobs and kept events of the responses `response_ids` (a list or a select of
    ids) before the responses themselves go."""
    conn.execute(delete(jobs).where(jobs.c.response_id.in_(response_ids)))
    conn.execute(delete(events).where(events.c.response_id.in_(response_ids)))
