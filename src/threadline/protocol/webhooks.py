"""Webhook endpoint request bodies (OpenAI's /v1/webhook_endpoints)."""

from __future__ import annotations

from pydantic import Field

from threadline.protocol.content import WireModel


class WebhookEndpointCreateParams(WireModel):
    name: str = Field(max_length=256)
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(max_length=16)


class WebhookEndpointUpdateParams(WireModel):
    name: str | None = Field(default=None, max_length=256)
    url: str | None = Field(default=None, max_length=2048)
    event_types: list[str] | None = Field(default=None, max_length=16)


class WebhookEndpointTestParams(WireModel):
    event_type: str = Field(max_length=64)


class WebhookEndpointListQuery(WireModel):
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
