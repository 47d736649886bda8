"""Deliver the outbox: every process takes due deliveries from the store and sends them,
at least once each, retrying with backoff for a bounded number of attempts.

Attempt n (from 1) that fails is retried after `retry_seconds * 4**(n-1)`, at most an hour,
until `max_attempts`; then the delivery is `failed` (the operator can send it again:
`threadline webhooks redeliver`). A delivery is leased while it is sent, so a process that dies
mid-send leaves it due again once the lease lapses: the receiver may see an event twice and
should deduplicate on `webhook-id`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from threadline.engine.clock import Clock, system_clock
from threadline.engine.polling import PollingLoop
from threadline.engine.webhooks.sealing import SealedSecrets
from threadline.storage.base import Store
from threadline.storage.webhook_records import DueDelivery
from threadline.tools.base import WebhookAttempt, WebhookSender

log = logging.getLogger(__name__)

_BATCH = 16
_MAX_WAIT = 3600.0


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        sealed: SealedSecrets,
        sender: WebhookSender,
        *,
        owner: str,
        poll_interval: float,
        retry_seconds: float,
        max_attempts: int,
        send_timeout: float,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._sealed = sealed
        self._sender = sender
        self._owner = owner
        self._retry = retry_seconds
        self._max_attempts = max_attempts
        self._lease = send_timeout + 30
        self._clock = clock
        self._loop = PollingLoop(
            self._deliver_batch, interval=poll_interval, what="deliver webhooks"
        )

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        """A background response ended here: its deliveries are due now."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop sending; a send cut short stays leased, and is due again once that lapses."""
        await self._loop.stop()

    async def _deliver_batch(self) -> bool:
        return await self.deliver_due() == _BATCH

    async def deliver_due(self) -> int:
        """Send the deliveries due now (one batch); how many were taken."""
        now = self._clock()
        due = await self._store.take_webhook_deliveries(
            self._owner, now=now, lease_until=now + self._lease, limit=_BATCH
        )
        await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, due: DueDelivery) -> None:
        delivery = due.delivery
        try:
            secret = self._sealed.open(due.secret)
        except Exception as exc:
            attempt = WebhookAttempt(None, str(exc))
        else:
            attempt = await self._sender.send(due.url, secret, delivery.id, delivery.payload)
        attempts = delivery.attempts + 1
        now = self._clock()
        if attempt.delivered:
            outcome = dataclasses.replace(
                delivery,
                status="delivered",
                attempts=attempts,
                next_attempt_at=None,
                last_status_code=attempt.status_code,
                last_error=None,
                delivered_at=now,
            )
        else:
            gave_up = attempts >= self._max_attempts
            wait = min(self._retry * 4 ** (attempts - 1), _MAX_WAIT)
            outcome = dataclasses.replace(
                delivery,
                status="failed" if gave_up else "pending",
                attempts=attempts,
                next_attempt_at=None if gave_up else now + wait,
                last_status_code=attempt.status_code,
                last_error=attempt.error,
            )
            # The endpoint's id, never its URL (it may carry a token) nor the payload.
            log.warning(
                "webhook delivery %s to endpoint %s failed (attempt %d): %s",
                delivery.id,
                delivery.endpoint_id,
                attempts,
                attempt.error,
            )
        await self._store.record_webhook_attempt(outcome)
