"""The webhook part of the storage contract, on every backend: endpoints are the tenant's, a
background response's end writes the outbox in the transaction that ends it, and deliveries
are taken once, recorded and sent again on demand."""

from __future__ import annotations

import dataclasses

import orjson

from tests.storage.test_background_jobs_contract import enqueue, finished, queued
from tests.storage.test_store_contract import A, B, msg
from threadline.ids import new_id
from threadline.storage.base import Store, TurnRecord
from threadline.storage.webhook_records import WebhookEndpointRecord

ERROR = {"code": "server_error", "message": "interrupted"}


def endpoint(
    tenant: str = A, events: tuple[str, ...] = ("response.completed",)
) -> WebhookEndpointRecord:
    return WebhookEndpointRecord(
        id=new_id("we"),
        tenant=tenant,
        name="hook",
        url="https://example.com/hook",
        event_types=list(events),
        secret="sealed",
        secret_hint="whsec_ab…",
        created_at=100.0,
        updated_at=100.0,
    )


async def complete_a_job(store: Store, tenant: str = A) -> str:
    record = await enqueue(store, queued(tenant=tenant))
    [job] = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=1)
    await store.save_turn(
        TurnRecord(finished(job.response), [msg("q")], [msg("a")], started=True, background=True)
    )
    return record.id


async def test_endpoints_belong_to_their_tenant(store: Store) -> None:
    mine, theirs = endpoint(A), endpoint(B)
    await store.create_webhook_endpoint(mine)
    await store.create_webhook_endpoint(theirs)
    assert await store.get_webhook_endpoint(A, mine.id) == mine
    assert await store.get_webhook_endpoint(A, theirs.id) is None
    assert [e.id for e in await store.list_webhook_endpoints(A)] == [mine.id]
    assert {e.id for e in await store.list_webhook_endpoints(None)} == {mine.id, theirs.id}
    changed = dataclasses.replace(mine, name="renamed", event_types=["response.failed"])
    assert await store.update_webhook_endpoint(changed)
    assert await store.get_webhook_endpoint(A, mine.id) == changed
    assert not await store.update_webhook_endpoint(dataclasses.replace(theirs, tenant=A))
    assert not await store.delete_webhook_endpoint(A, theirs.id)
    assert await store.delete_webhook_endpoint(A, mine.id)
    assert await store.list_webhook_endpoints(A) == []


async def test_a_background_response_that_ends_writes_one_delivery_per_endpoint_asking(
    store: Store,
) -> None:
    wants, other_event, other_tenant = (
        endpoint(A),
        endpoint(A, ("response.failed",)),
        endpoint(B),
    )
    for e in (wants, other_event, other_tenant):
        await store.create_webhook_endpoint(e)
    response_id = await complete_a_job(store)
    [delivery] = await store.list_webhook_deliveries(A, limit=10)
    assert delivery.endpoint_id == wants.id and delivery.status == "pending"
    payload = orjson.loads(delivery.payload)
    assert payload["type"] == "response.completed" and payload["data"] == {"id": response_id}
    assert payload["object"] == "event" and payload["id"] == delivery.event_id
    assert await store.list_webhook_deliveries(B, limit=10) == []


async def test_cancelled_and_failed_jobs_write_their_events(store: Store) -> None:
    hook = endpoint(A, ("response.cancelled", "response.failed"))
    await store.create_webhook_endpoint(hook)
    cancelled = await enqueue(store, queued())
    assert await store.cancel_job(A, cancelled.id) == "cancelled"
    failed = await enqueue(store, queued())
    await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=1)
    await store.note_job_side_effect(failed.id)
    assert not await store.requeue_job(failed.id, ERROR)
    events = {
        orjson.loads(d.payload)["data"]["id"]: d.event_type
        for d in await store.list_webhook_deliveries(A, limit=10)
    }
    assert events == {cancelled.id: "response.cancelled", failed.id: "response.failed"}


async def test_deliveries_are_taken_once_recorded_and_sent_again_on_demand(store: Store) -> None:
    hook = endpoint(A)
    await store.create_webhook_endpoint(hook)
    await complete_a_job(store)
    [due] = await store.take_webhook_deliveries("p1", now=1e12, lease_until=2e12, limit=5)
    assert due.url == hook.url and due.secret == "sealed"
    assert await store.take_webhook_deliveries("p2", now=1e12, lease_until=2e12, limit=5) == []
    # A sender that died: its lease lapses and the delivery is due again.
    [again] = await store.take_webhook_deliveries("p2", now=3e12, lease_until=4e12, limit=5)
    assert again.delivery.id == due.delivery.id
    retry = dataclasses.replace(
        again.delivery, attempts=1, next_attempt_at=5e12, last_status_code=500, last_error="500"
    )
    await store.record_webhook_attempt(retry)
    assert await store.take_webhook_deliveries("p3", now=4.5e12, lease_until=6e12, limit=5) == []
    delivered = dataclasses.replace(retry, status="delivered", attempts=2, delivered_at=5e12)
    await store.record_webhook_attempt(delivered)
    [logged] = await store.list_webhook_deliveries(A, limit=10)
    assert logged == delivered
    assert not await store.redeliver_webhook(B, delivered.id, 6e12)
    assert await store.redeliver_webhook(A, delivered.id, 6e12)
    [resent] = await store.take_webhook_deliveries("p4", now=6e12, lease_until=7e12, limit=5)
    assert resent.delivery.id == delivered.id and resent.delivery.attempts == 2


async def test_deleting_an_endpoint_deletes_its_deliveries(store: Store) -> None:
    hook = endpoint(A)
    await store.create_webhook_endpoint(hook)
    await complete_a_job(store)
    assert await store.delete_webhook_endpoint(A, hook.id)
    assert await store.list_webhook_deliveries(A, limit=10) == []
