"""A turn ready to run: validated, its context loaded, its model request built. It is the
immutable input of the run (`turn.py`) and of its end (`turn_end.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.engine.conversations.claims import ConversationTurn
from threadline.engine.responses.server_tools.plan import ServerToolPlan
from threadline.providers.base import ModelProvider, ProviderRequest
from threadline.storage.base import Item, ResponseRecord


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    """A turn whose request was validated and whose context was loaded: from here on it can
    only fail upstream, or in storage."""

    record: ResponseRecord
    """The response as it starts (`in_progress`); its end is a new record (`TurnOutcome`)."""
    input_items: list[Item]
    provider: ModelProvider
    request: ProviderRequest
    store: bool
    server_tools: ServerToolPlan | None = None
    """The server-side tools (MCP, web search) this turn may run."""
    conversation: ConversationTurn | None = None
    """The turn's claim on its conversation, held until the turn is saved."""
