"""Reasoning a provider seals (OpenAI's encrypted reasoning, Anthropic's thinking signatures)
leaves this server sealed again, by us: a reasoning item's `encrypted_content` is
`tl1:<token>`, the provider's payload and the caller's tenant under the operator's keys
(engine/sealing.py, the compaction keys). Clients that store nothing pass reasoning items
back as OpenAI's do, and only this server, for that caller, opens them; the provider gets its
own payload back whenever the model is called (the model view, and between tool calls in a
turn). An altered or another caller's item in the input is a 400 naming it; a stored one
sealed under a key since retired is sent without its payload (the reasoning text stays).
Items stored before this kept the provider's payload as it was, and are sent as they are."""

from __future__ import annotations

from typing import Any

import orjson

from threadline.engine.sealing import CannotOpen, Sealer
from threadline.errors import InvalidRequest
from threadline.storage.base import Item

PREFIX = "tl1:"


class ReasoningSeals:
    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def seal(self, tenant: str, payload: str) -> str:
        return PREFIX + self._sealer.seal(orjson.dumps({"tenant": tenant, "payload": payload}))

    def check(self, tenant: str, items: list[Item], param: str) -> None:
        """Refuse (400) a reasoning item among `items` whose content is ours but will not
        open for this tenant."""
        for index, item in enumerate(items):
            sealed = _ours(item)
            if sealed is not None and self._open(tenant, sealed) is None:
                raise _refused(f"{param}[{index}].encrypted_content")

    def view(self, tenant: str, items: list[Item]) -> list[Item]:
        """`items` with the providers' own payloads in place of our sealed ones (copies; the
        items given are not changed)."""
        if not any(_ours(item) is not None for item in items):
            return items
        return [self._opened(tenant, item) for item in items]

    def _opened(self, tenant: str, item: Item) -> Item:
        sealed = _ours(item)
        if sealed is None:
            return item
        payload = self._open(tenant, sealed)
        opened = dict(item)
        if payload is None:
            del opened["encrypted_content"]
        else:
            opened["encrypted_content"] = payload
        return opened

    def _open(self, tenant: str, sealed: str) -> str | None:
        try:
            content: Any = orjson.loads(self._sealer.open(sealed))
        except (CannotOpen, orjson.JSONDecodeError):
            return None
        if not isinstance(content, dict) or content.get("tenant") != tenant:
            return None
        payload = content.get("payload")
        return payload if isinstance(payload, str) else None


def _ours(item: Item) -> str | None:
    if item.get("type") != "reasoning":
        return None
    value = item.get("encrypted_content")
    if isinstance(value, str) and value.startswith(PREFIX):
        return value.removeprefix(PREFIX)
    return None


def _refused(param: str) -> InvalidRequest:
    return InvalidRequest(
        "The reasoning item's encrypted_content cannot be opened: it was altered, made by "
        "another server (or under a key since retired), or for another caller. Leave the "
        "reasoning item out of the input: the model answers without it.",
        param=param,
        code="invalid_encrypted_content",
    )
