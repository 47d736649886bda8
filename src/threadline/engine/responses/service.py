"""The Responses use cases: create (streamed or not), retrieve, delete, list input items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.context import check_tool_calls_answered
from threadline.engine.conversations.claims import ConversationPolicy, ConversationTurn
from threadline.engine.files.inputs import FileInputs
from threadline.engine.input_items import normalize_input
from threadline.engine.pages import item_page
from threadline.engine.responses.events import Event
from threadline.engine.responses.prepared_turn import PreparedTurn
from threadline.engine.responses.response_object import response_object
from threadline.engine.responses.running_turns import RunningTurns
from threadline.engine.responses.server_tools.base import PlanContext
from threadline.engine.responses.server_tools.plan import echoed_tools, plan_server_tools, replayed
from threadline.engine.responses.tool_choice import read_responses_choice
from threadline.engine.responses.turn import TurnRun, TurnRunner
from threadline.engine.validation import refuse_empty_turn, refuse_unsupported
from threadline.errors import (
    NotFound,
    PreviousResponseInProgress,
    PreviousResponseNotFound,
    ThreadlineError,
)
from threadline.protocol.responses import ListQuery, ResponseCreateParams
from threadline.protocol.tools import FunctionTool
from threadline.providers.base import ModelProvider, ProviderRequest
from threadline.providers.registry import ProviderRegistry
from threadline.storage.base import Item, ResponseRecord, Store
from threadline.tools.base import ServerTools

_ECHOED = (
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "truncation",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "store",
)


@dataclass(slots=True)
class CreatedResponse:
    response: dict[str, Any]
    failure: ThreadlineError | None


class ResponseService:
    def __init__(
        self,
        store: Store,
        providers: ProviderRegistry,
        conversations: ConversationPolicy,
        clock: Clock = system_clock,
        *,
        tools: ServerTools | None = None,
        file_inputs: FileInputs | None = None,
        running: RunningTurns | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._conversations = conversations
        self._clock = clock
        self._tools = tools
        self._file_inputs = file_inputs or FileInputs(None, None, clock)
        self._running = running or RunningTurns(store, lease_seconds=30.0, clock=clock)
        self._runner = TurnRunner(store, clock, tools, conversations, self._running)

    async def prepare(self, tenant: str, params: ResponseCreateParams) -> PreparedTurn:
        """Validate, resolve the model and load the context. Every 4xx a create can give is
        raised here, before any event is streamed."""
        refuse_unsupported(params)
        provider, upstream_model = self._providers.resolve(params.model)
        response_id = ids.new_id(ids.RESPONSE)
        history, claim = await self._history(tenant, params, response_id)
        try:
            return await self._prepare_turn(
                tenant, params, provider, upstream_model, response_id, history, claim
            )
        except BaseException:
            if claim is not None:
                await self._conversations.release(claim)
            raise

    async def _prepare_turn(
        self,
        tenant: str,
        params: ResponseCreateParams,
        provider: ModelProvider,
        upstream_model: str,
        response_id: str,
        history: list[Item],
        claim: ConversationTurn | None,
    ) -> PreparedTurn:
        refuse_empty_turn(params, history)
        input_items = await normalize_input(self._store, tenant, params.input)
        context = history + input_items
        check_tool_calls_answered(context)
        choice = read_responses_choice(params.tool_choice)
        server_tools = plan_server_tools(
            PlanContext(tenant, params, history, input_items, self._tools), choice
        )
        provider_items = await self._file_inputs.for_provider(
            tenant,
            context,
            len(input_items),
            native=provider.capabilities.native_files,
        )
        tools = [
            t.model_dump(exclude_none=True)
            for t in params.tools or ()
            if isinstance(t, FunctionTool) and choice.offers_function(t.name)
        ]
        settings = self._echoed_settings(params)
        record = ResponseRecord(
            id=response_id,
            tenant=tenant,
            created_at=self._clock(),
            status="in_progress",
            model=params.model,
            settings=settings,
            previous_response_id=params.previous_response_id,
            conversation_id=None if claim is None else claim.conversation_id,
        )

        request = ProviderRequest(
            model=upstream_model,
            items=replayed(provider_items),
            instructions=params.instructions,
            tools=tools,
            tool_choice=choice.choice if tools else None,
            parallel_tool_calls=params.parallel_tool_calls if tools else None,
            text_format=settings["text"]["format"] if params.text is not None else None,
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
        )
        store = params.store is not False
        if store:
            # Stored as it starts (the write commits while the model is called): readable
            # while it runs, and the input survives a crash.
            self._running.start(record, input_items)
        return PreparedTurn(
            record,
            input_items,
            provider,
            request,
            store=store,
            server_tools=server_tools,
            conversation=claim,
        )

    def run(self, turn: PreparedTurn) -> TurnRun:
        """The turn's run: its events, streamed or read by `complete`, then its outcome."""
        return self._runner.run(turn)

    async def complete(self, run: TurnRun) -> CreatedResponse:
        """Run the turn without streaming; the terminal event carries the final response."""
        last: Event | None = None
        async for event in run.events:
            last = event
        if last is None or run.outcome is None:  # a run always ends with a terminal event
            raise RuntimeError("turn ended without a terminal event")
        return CreatedResponse(last["response"], run.outcome.failure)

    async def retrieve(self, tenant: str, response_id: str) -> dict[str, Any]:
        """The response; one still running here shows its output so far (elsewhere, what is
        stored: `in_progress` and its input)."""
        if (live := self._running.live(tenant, response_id)) is not None:
            return live
        stored = await self._store.get_response(tenant, response_id)
        if stored is None:
            raise _response_not_found(response_id)
        return response_object(stored.record, stored.output)

    async def delete(self, tenant: str, response_id: str) -> dict[str, Any]:
        if not await self._store.delete_response(tenant, response_id):
            raise _response_not_found(response_id)
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def list_input_items(
        self, tenant: str, response_id: str, query: ListQuery
    ) -> dict[str, Any]:
        page = await self._store.list_input_items(
            tenant, response_id, after=query.after, limit=query.limit, order=query.order
        )
        if page is None:
            raise _response_not_found(response_id)
        return item_page(page)

    async def _history(
        self, tenant: str, params: ResponseCreateParams, response_id: str
    ) -> tuple[list[Item], ConversationTurn | None]:
        """The items the turn continues from; a conversation turn also claims its
        conversation (the caller releases the claim if the turn never runs)."""
        if params.previous_response_id is not None:
            # A turn running here may not have committed its start yet: it is in progress,
            # not missing (one running on another replica is seen once its start commits).
            if self._running.runs(tenant, params.previous_response_id):
                raise PreviousResponseInProgress(params.previous_response_id)
            chain = await self._store.load_chain(tenant, params.previous_response_id)
            if chain is None:
                raise PreviousResponseNotFound(params.previous_response_id)
            return chain, None
        if params.conversation is not None:
            conversation_id = (
                params.conversation
                if isinstance(params.conversation, str)
                else params.conversation.id
            )
            claim, items = await self._conversations.begin_turn(
                tenant, conversation_id, response_id
            )
            return items, claim
        return [], None

    @staticmethod
    def _echoed_settings(params: ResponseCreateParams) -> dict[str, Any]:
        settings: dict[str, Any] = {name: getattr(params, name) for name in _ECHOED}
        settings["tools"] = echoed_tools(params.tools)
        choice = params.tool_choice
        settings["tool_choice"] = (
            choice
            if choice is None or isinstance(choice, str)
            else choice.model_dump(exclude_none=True)
        )
        text = params.text.model_dump(exclude_none=True, by_alias=True) if params.text else {}
        text_format = text.get("format", {"type": "text"})
        if text_format["type"] == "json_schema":
            # Open Responses requires `strict` to be echoed; false is OpenAI's default.
            text_format = {"strict": False, **text_format}
        settings["text"] = {
            "format": text_format,
            "verbosity": text.get("verbosity", "medium"),
        }
        if params.reasoning is not None:
            # Echoed as asked; a Chat Completions upstream writes no summaries (docs/api.md).
            summary = params.reasoning.summary or params.reasoning.generate_summary
            settings["reasoning"] = {"effort": params.reasoning.effort, "summary": summary}
        if params.service_tier is not None:
            settings["service_tier"] = (
                "default" if params.service_tier == "auto" else params.service_tier
            )
        return settings


def _response_not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id")
