"""A turn ready to run: validated, its context loaded, its model request built. It is the
immutable input of the run (`turn.py`) and of its end (`turn_end.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from threadline.engine.conversations.claims import ConversationTurn
from threadline.engine.disclosure import NOTHING_ASKED, Disclosure
from threadline.engine.responses.server_tools.plan import ServerToolPlan
from threadline.engine.usage.meter import ANONYMOUS, Payer
from threadline.providers.base import ModelProvider, ProviderRequest, UsageReport
from threadline.storage.base import Item, ResponseRecord


@dataclass(slots=True)
class JobControl:
    """A background turn's link to its job, for the run: whether its cancellation was asked
    for, and how to note that a step with side effects is about to run."""

    note_side_effect: Callable[[], Awaitable[None]]
    cancel_requested: bool = False


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
    job: JobControl | None = None
    """Set for the turn of a background job."""
    preamble: tuple[Item, ...] = ()
    """Items that open the output before the model answers (an automatic compaction)."""
    preamble_usage: UsageReport | None = None
    """What the model call that made the preamble used: counted in the turn's usage."""
    payer: Payer = ANONYMOUS
    """Whom the turn's usage is charged to (engine/usage/meter.py)."""
    disclosure: Disclosure = NOTHING_ASKED
    """What the client is shown of sealed reasoning and file search results
    (`engine/disclosure.py`)."""
