"""What the store keeps of webhooks: the tenants' endpoints and the outbox of deliveries
(storage/base.py states what each backend promises about them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(slots=True)
class WebhookEndpointRecord:
    id: str
    tenant: str
    name: str
    url: str
    event_types: list[str]
    secret: str
    """The signing secret, sealed by the engine (the store never sees it in clear)."""
    secret_hint: str
    created_at: float
    updated_at: float


@dataclass(slots=True)
class WebhookDelivery:
    """One event for one endpoint, from the outbox, with how its delivery is going."""

    id: str
    event_id: str
    endpoint_id: str
    tenant: str
    event_type: str
    payload: str
    """The JSON body, exactly as it is sent and signed."""
    created_at: float
    status: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    next_attempt_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(slots=True)
class DueDelivery:
    """A delivery taken to send, with where to and the sealed secret to sign it with."""

    delivery: WebhookDelivery
    url: str
    secret: str
