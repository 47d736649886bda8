"""Compaction: a summary of a context, made by the model, carried by a `compaction` item whose
`encrypted_content` only this server can open.

`POST /v1/responses/compact` asks the model for a checkpoint summary of the context and
returns the context's user messages followed by one `compaction` item (OpenAI's shape); a
client sends that list back as input, and wherever a compaction item stands in a context, the
model sees its summary instead. The content is sealed (engine/sealing.py: authenticated
encryption under the operator's keys, rotatable) together with the tenant it was made for: an
altered item, one from another server, or another tenant's, is refused with a 400 naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

from threadline import ids
from threadline.engine.sealing import CannotOpen, Sealer
from threadline.errors import InvalidRequest
from threadline.storage.base import Item

log = logging.getLogger(__name__)

PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Summarize the conversation above so "
    "that it can continue from your summary alone: the user's goals and constraints, what was "
    "decided and done (with the exact names, numbers and identifiers that matter), what tools "
    "returned that is still needed, and what remains open. Reply with the summary only."
)
SUMMARY_HEADING = "Summary of the earlier conversation (compacted):"
_VERSION = 1


class Compactions:
    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    @classmethod
    def ephemeral(cls) -> Compactions:
        """Sealed under a key of this process only (for an engine built without settings)."""
        return cls(Sealer([Fernet.generate_key().decode()], Path()))

    def item(self, tenant: str, summary: str) -> Item:
        sealed = self._sealer.seal(
            orjson.dumps({"v": _VERSION, "tenant": tenant, "summary": summary})
        )
        return {"id": ids.new_id(ids.COMPACTION), "type": "compaction", "encrypted_content": sealed}

    def check(self, tenant: str, items: list[Item], param: str) -> None:
        """Refuse (400) any compaction item among `items` this tenant cannot have made here."""
        for index, item in enumerate(items):
            if item.get("type") == "compaction":
                self._summary(tenant, item, f"{param}[{index}].encrypted_content")

    def model_view(self, tenant: str, items: list[Item]) -> list[Item]:
        """What the model sees of `items` (see `views`)."""
        history, rest = self.views(tenant, items, [])
        return [*history, *rest]

    def views(
        self, tenant: str, history: list[Item], input_items: list[Item]
    ) -> tuple[list[Item], list[Item]]:
        """What the model sees of a turn's history and input, split back into the two. From
        the last compaction item on: its summary (as a message) and what follows it. Before
        it: the user messages since the compaction before it (as the compact endpoint keeps
        them; earlier ones are in that compaction's summary, which this one summarised).
        A context without a compaction item is seen whole."""
        items = [*history, *input_items]
        opened: list[tuple[int, str]] = []
        skipped: set[int] = set()
        # From the end: only what follows the compaction before the last one is looked at, so
        # a long conversation's view costs what its last stretch does.
        for index in range(len(items) - 1, -1, -1):
            if items[index].get("type") != "compaction":
                continue
            try:
                opened.append((index, self._summary(tenant, items[index], "input")))
            except InvalidRequest:
                if index >= len(history):
                    raise
                # Stored, so it was opened once: sealed under a key since retired. Its turn
                # is seen as if it had not compacted (the items it summarised are still there).
                log.warning("a stored compaction item cannot be opened any more: ignored")
                skipped.add(index)
                continue
            if len(opened) == 2:
                break
        if not opened:
            return [item for i, item in enumerate(history) if i not in skipped], input_items
        last, summary_text = opened[0]
        since = opened[1][0] + 1 if len(opened) > 1 else 0
        summary = _summary_message(items[last]["id"], summary_text)
        seen = [(i, items[i]) for i in range(since, last) if _is_user_message(items[i])]
        seen.append((last, summary))
        seen += [(i, items[i]) for i in range(last + 1, len(items)) if i not in skipped]
        split = len(history)
        return [item for i, item in seen if i < split], [item for i, item in seen if i >= split]

    @staticmethod
    def user_messages_since_last(items: list[Item]) -> list[Item]:
        """The user messages after the last compaction item (all of them without one): what
        a new compaction keeps beside its summary."""
        marks = [i for i, item in enumerate(items) if item.get("type") == "compaction"]
        since = marks[-1] + 1 if marks else 0
        return [item for item in items[since:] if _is_user_message(item)]

    def _summary(self, tenant: str, item: Item, param: str) -> str:
        try:
            sealed: Any = orjson.loads(self._sealer.open(str(item.get("encrypted_content", ""))))
        except (CannotOpen, orjson.JSONDecodeError):
            sealed = None
        if not isinstance(sealed, dict) or sealed.get("tenant") != tenant:
            raise InvalidRequest(
                "The compaction item's encrypted_content cannot be opened: it was altered, "
                "made by another server (or under a key since retired), or for another caller. "
                "Send the items it summarised instead, or compact them again with "
                "POST /v1/responses/compact.",
                param=param,
                code="invalid_encrypted_content",
            )
        return str(sealed.get("summary", ""))


def _is_user_message(item: Item) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _summary_message(item_id: str, summary: str) -> Item:
    return {
        "id": item_id,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": f"{SUMMARY_HEADING}\n{summary}"}],
    }


def prompt_message() -> Item:
    return {
        "id": ids.new_id(ids.MESSAGE),
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": PROMPT}],
    }
