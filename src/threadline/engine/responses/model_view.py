"""The model view: what the model is sent for a turn, built from its history and input.

Compaction items become their summaries (and a view starts at the last one), `truncation:
"auto"` fits what is left into the model's window, sealed reasoning is opened for what is sent,
the tool calls are checked on what the upstream would see, and files are resolved to what the
provider reads. A create, a token count and a compaction all ask here, so they count and send
the same thing.
"""

from __future__ import annotations

from typing import Any

from threadline.engine.context import check_tool_calls_answered
from threadline.engine.context_window import ContextFitter
from threadline.engine.files.inputs import FileInputs
from threadline.engine.responses.compaction import Compactions
from threadline.engine.responses.context_kinds import ContextKinds
from threadline.engine.responses.sealed_reasoning import ReasoningSeals
from threadline.engine.responses.server_tools.plan import replayed, replays_any
from threadline.engine.responses.tool_choice import ClientChoice
from threadline.prefix_memo import DEFAULT_MAX_BYTES
from threadline.protocol.responses import ResponseCreateParams
from threadline.protocol.tools import FunctionTool
from threadline.providers.base import ModelProvider, ProviderRequest
from threadline.providers.registry import ProviderRegistry
from threadline.storage.base import Item


class ModelView:
    def __init__(
        self,
        providers: ProviderRegistry,
        file_inputs: FileInputs,
        compactions: Compactions,
        reasoning: ReasoningSeals,
        *,
        memo_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._providers = providers
        self._file_inputs = file_inputs
        self._compactions = compactions
        self._reasoning = reasoning
        self._fitter = ContextFitter()
        self._kinds = ContextKinds(memo_bytes)

    async def request(
        self,
        tenant: str,
        params: ResponseCreateParams,
        provider: ModelProvider,
        upstream_model: str,
        history: list[Item],
        input_items: list[Item],
        choice: ClientChoice,
        *,
        check_calls: bool = True,
        api_key: str | None = None,
    ) -> tuple[ProviderRequest, int]:
        """What the model is sent for this turn (before server-side tools add theirs), and how
        many items of its history `truncation: auto` left out."""
        context_history, context_input = history, input_items
        context = [*history, *input_items]
        kinds = self._kinds.of(history, input_items)
        # Each pass below runs only if the context holds the kind of item it acts on.
        if "compaction" in kinds.types:
            history, input_items = self._compactions.views(tenant, history, input_items)
        dropped = 0
        if params.truncation == "auto":
            history, dropped = self._fit(params, upstream_model, history, input_items)
        if "reasoning" in kinds.types:
            # Sealed reasoning is opened for what is sent only (after truncation: a long
            # history's older reasoning is never decrypted again).
            history = self._reasoning.view(tenant, history)
            input_items = self._reasoning.view(tenant, input_items)
        if history is not context_history or input_items is not context_input:
            context = [*history, *input_items]
            calls = context
        else:
            calls = [context[index] for index in kinds.calls]
        if check_calls:
            # On what the model is sent: bounded by compaction and truncation, and what the
            # upstream would refuse.
            check_tool_calls_answered(calls)
        provider_items = await self._file_inputs.for_provider(
            tenant, context, len(input_items), native=provider.capabilities.native_files
        )
        history_items: int | None = len(history)
        if replays_any(kinds.types):
            provider_items = replayed(provider_items)
            history_items = None  # replay changes how many items the history is
        tools = [
            t.model_dump(exclude_none=True)
            for t in params.tools or ()
            if isinstance(t, FunctionTool) and choice.offers_function(t.name)
        ]
        chosen_format = (
            text_format(params.text.model_dump(exclude_none=True, by_alias=True))
            if params.text is not None
            else None
        )
        request = ProviderRequest(
            model=upstream_model,
            items=provider_items,
            history_items=history_items,
            instructions=params.instructions,
            tools=tools,
            tool_choice=choice.choice if tools else None,
            parallel_tool_calls=params.parallel_tool_calls if tools else None,
            text_format=chosen_format,
            temperature=params.temperature,
            top_p=params.top_p,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            max_output_tokens=params.max_output_tokens,
            reasoning_effort=params.reasoning.effort if params.reasoning else None,
            user=params.user,
            safety_identifier=params.safety_identifier,
            prompt_cache_key=params.prompt_cache_key,
            incremental=bool(params.stream),
            api_key=api_key,
        )
        return request, dropped

    def compact_threshold(self, params: ResponseCreateParams) -> int | None:
        """The context tokens above which this turn compacts first, if it asks to."""
        for entry in params.context_management or ():
            if entry.compact_threshold is not None:
                return entry.compact_threshold
            limits = self._providers.limits(params.model)
            return None if limits is None else int(limits.context_window * 0.8)
        return None

    def _fit(
        self,
        params: ResponseCreateParams,
        upstream_model: str,
        history: list[Item],
        input_items: list[Item],
    ) -> tuple[list[Item], int]:
        limits = self._providers.limits(params.model)
        if limits is None or not history:
            return history, 0
        budget = limits.context_window - (params.max_output_tokens or limits.max_output_tokens)
        base = ProviderRequest(
            model=upstream_model,
            items=input_items,
            instructions=params.instructions,
            tools=[t.model_dump(exclude_none=True) for t in params.tools or ()],
        )
        return self._fitter.fit(base, history, budget)

    def estimate(self, request: ProviderRequest) -> int:
        """The local token estimate of `request` (item sizes kept by id)."""
        return self._fitter.estimate(request)

    def check_sealed(self, tenant: str, input_items: list[Item]) -> None:
        """Refuse input items sealed here that do not open for this tenant."""
        self._compactions.check(tenant, input_items, "input")
        self._reasoning.check(tenant, input_items, "input")


def text_format(text: dict[str, Any]) -> dict[str, Any]:
    """The `text.format` of a request's `text`, as echoed and as sent."""
    chosen: dict[str, Any] = text.get("format", {"type": "text"})
    if chosen["type"] == "json_schema":
        # Open Responses requires `strict` to be echoed; false is OpenAI's default.
        chosen = {"strict": False, **chosen}
    return chosen
