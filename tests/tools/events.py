"""Read a streamed response as its list of events, and compare event orders."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.spec import validate_event


def stream_events(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of a streamed create, each checked against the spec's schema."""
    events: list[dict[str, Any]] = []
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    for event in events:
        validate_event(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def event_order(events: list[dict[str, Any]]) -> list[str]:
    """Event types, with runs of the same delta event collapsed into one."""
    order: list[str] = []
    for event in events:
        kind = event["type"]
        if not (order and order[-1] == kind and kind.endswith(".delta")):
            order.append(kind)
    return order
