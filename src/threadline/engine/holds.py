"""Legal holds as erasure and retention read them: one tenant's holds, asked of each object.

A hold on the tenant keeps everything of it; on a conversation, the conversation, its items and
the responses of its turns; on an end user, every response whose request named them (and the
conversation such a response ran in, since deleting a conversation deletes its turns), and the
stored chat completions whose metadata names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threadline.engine.end_users import EndUser
from threadline.storage.base import ResponseRecord
from threadline.storage.holds import LegalHold


class HoldSet:
    def __init__(self, holds: list[LegalHold]) -> None:
        self.tenant = any(h.kind == "tenant" for h in holds)
        self.conversations = {h.target for h in holds if h.kind == "conversation"}
        self.end_users = [EndUser.from_target(h.target) for h in holds if h.kind == "end_user"]

    def __bool__(self) -> bool:
        return self.tenant or bool(self.conversations or self.end_users)

    def holds_end_user(self, who: EndUser) -> bool:
        return self.tenant or any(held.target == who.target for held in self.end_users)

    def holds_response(self, record: ResponseRecord) -> bool:
        if self.tenant or record.conversation_id in self.conversations:
            return True
        return any(who.named_in(record.settings) for who in self.end_users)

    def holds_completion(self, metadata: Mapping[str, Any] | None) -> bool:
        return self.tenant or any(who.named_in_metadata(metadata) for who in self.end_users)
