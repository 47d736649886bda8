"""The audit trail (storage/audit.py), on every backend."""

from __future__ import annotations

import pytest

from threadline.errors import InvalidRequest
from threadline.storage.audit import AuditEvent, AuditQuery
from threadline.storage.base import Store


def event(n: int, tenant: str | None = "t1", action: str = "conversation.deleted") -> AuditEvent:
    return AuditEvent(
        id=f"audit_{n:03d}",
        at=1000.0 + n // 2,  # pairs share a moment: ids break the tie
        tenant=tenant,
        actor="api_key:key_1",
        action=action,
        object_id=f"conv_{n}",
        details={"n": n},
    )


async def test_the_audit_trail_reads_newest_first_in_pages(store: Store) -> None:
    for n in range(5):
        await store.record_audit(event(n))
    first = await store.list_audit(AuditQuery(tenant="t1", limit=2))
    assert [e.id for e in first.events] == ["audit_004", "audit_003"]
    assert first.has_more
    rest = await store.list_audit(AuditQuery(tenant="t1", limit=10, after="audit_003"))
    assert [e.id for e in rest.events] == ["audit_002", "audit_001", "audit_000"]
    assert not rest.has_more
    assert rest.events[0] == event(2)


async def test_a_tenant_reads_only_its_own_events(store: Store) -> None:
    await store.record_audit(event(1, "t1"))
    await store.record_audit(event(2, "t2"))
    await store.record_audit(event(3, None, "server.opened"))
    mine = await store.list_audit(AuditQuery(tenant="t1"))
    assert [e.id for e in mine.events] == ["audit_001"]
    everything = await store.list_audit(AuditQuery())
    assert len(everything.events) == 3
    with pytest.raises(InvalidRequest) as refused:
        await store.list_audit(AuditQuery(tenant="t1", after="audit_002"))
    assert refused.value.param == "after"


async def test_the_audit_trail_filters_by_action_and_time(store: Store) -> None:
    await store.record_audit(event(0, action="api_key.created"))
    await store.record_audit(event(4, action="conversation.exported"))
    await store.record_audit(event(6, action="conversation.deleted"))
    by_action = await store.list_audit(AuditQuery(actions=("api_key.created",)))
    assert [e.id for e in by_action.events] == ["audit_000"]
    recent = await store.list_audit(AuditQuery(since=1002.0))
    assert [e.id for e in recent.events] == ["audit_006", "audit_004"]
