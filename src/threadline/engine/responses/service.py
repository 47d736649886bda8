"""The Responses use cases: create (streamed or not), retrieve, delete, list input items."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.context import check_tool_calls_answered
from threadline.engine.conversations.claims import ConversationPolicy, ConversationTurn
from threadline.engine.disclosure import disclosure, shown_page, shown_response
from threadline.engine.files.inputs import FileInputs
from threadline.engine.input_items import normalize_input
from threadline.engine.pages import item_page
from threadline.engine.responses.compaction import Compactions, prompt_message
from threadline.engine.responses.echoed_settings import echoed_settings
from threadline.engine.responses.events import Event
from threadline.engine.responses.model_view import ModelView
from threadline.engine.responses.prepared_turn import JobControl, PreparedTurn
from threadline.engine.responses.queue_room import QueueRoom
from threadline.engine.responses.response_object import (
    response_error,
    response_object,
    usage_object,
)
from threadline.engine.responses.running_turns import RunningTurns
from threadline.engine.responses.sealed_reasoning import ReasoningSeals
from threadline.engine.responses.server_tools.base import PlanContext
from threadline.engine.responses.server_tools.plan import (
    ServerToolPlan,
    plan_server_tools,
)
from threadline.engine.responses.tool_choice import ClientChoice, read_responses_choice
from threadline.engine.responses.turn import TurnRun, TurnRunner
from threadline.engine.sealing import Sealer
from threadline.engine.store_policy import StorePolicy
from threadline.engine.usage.meter import ANONYMOUS, Charge, Payer, UsageMeter
from threadline.engine.validation import refuse_empty_turn, refuse_unsupported
from threadline.engine.vector_stores.search import VectorSearch
from threadline.errors import (
    InvalidRequest,
    NotFound,
    PreviousResponseInProgress,
    PreviousResponseNotFound,
    ThreadlineError,
)
from threadline.prefix_memo import DEFAULT_MAX_BYTES
from threadline.protocol.responses import ListQuery, ResponseCreateParams
from threadline.providers.base import (
    ModelProvider,
    ProviderRequest,
    TextDelta,
    TokenCount,
    UsageReport,
)
from threadline.providers.registry import ProviderRegistry
from threadline.storage.base import Item, Job, QueuedTurn, ResponseRecord, Store, TurnRecord
from threadline.tools.base import ServerTools

_PAYER = "threadline_payer"
"""Where a queued job's request keeps whom its usage is charged to (taken out before the
request is read as a create request)."""


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
        file_search: VectorSearch | None = None,
        file_inputs: FileInputs | None = None,
        running: RunningTurns | None = None,
        queue_limit: int = 10_000,
        tenant_queue_limit: int | None = None,
        sealer: Sealer | None = None,
        store_policy: StorePolicy | None = None,
        meter: UsageMeter | None = None,
        history_memo_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        # Compaction items and providers' sealed reasoning leave sealed under the operator's
        # keys (one of this process only, for an engine built without settings).
        sealer = sealer or Sealer([Fernet.generate_key().decode()], Path())
        self._compactions = Compactions(sealer)
        self._reasoning = ReasoningSeals(sealer)
        self._store = store
        self._meter = meter
        self._store_policy = store_policy or StorePolicy()
        self._queue_room = QueueRoom(queue_limit, tenant_queue_limit or queue_limit)
        self._providers = providers
        self._conversations = conversations
        self._clock = clock
        self._tools = tools
        self._file_search = file_search
        self._file_inputs = file_inputs or FileInputs(None, None, clock)
        self._running = running or RunningTurns(store, lease_seconds=30.0, clock=clock)
        self._view = ModelView(
            providers,
            self._file_inputs,
            self._compactions,
            self._reasoning,
            memo_bytes=history_memo_bytes,
        )
        self._runner = TurnRunner(
            store,
            clock,
            tools,
            conversations,
            self._running,
            reasoning=self._reasoning,
            meter=meter,
        )

    async def prepare(
        self,
        tenant: str,
        params: ResponseCreateParams,
        *,
        provider_key: str | None = None,
        default_store: bool | None = None,
        payer: Payer = ANONYMOUS,
    ) -> PreparedTurn:
        """Validate, resolve the model and load the context. Every 4xx a create can give is
        raised here, before any event is streamed. `provider_key` is the caller's own key for
        the upstream (bring-your-own-key): sent in place of the provider's, never stored.
        `default_store` is what the caller's key says an omitted `store` means."""
        params = self._store_policy.apply(tenant, params, default_store)
        refuse_unsupported(params)
        provider, upstream_model = self._providers.resolve(params.model)
        response_id = ids.new_id(ids.RESPONSE)
        history, claim = await self._history(tenant, params, response_id)
        try:
            input_items = await normalize_input(self._store, tenant, params.input)
            record = self._new_record(tenant, params, response_id, claim, "in_progress")
            turn = await self._prepare_turn(
                params,
                provider,
                upstream_model,
                record,
                history,
                input_items,
                claim,
                api_key=provider_key,
                payer=payer,
            )
        except BaseException:
            if claim is not None:
                await self._conversations.release(claim)
            raise
        if turn.store:
            # Stored as it starts (the write commits while the model is called): readable
            # while it runs, and the input survives a crash.
            self._running.start(turn.record, input_items)
        return turn

    async def enqueue(
        self,
        tenant: str,
        params: ResponseCreateParams,
        *,
        provider_key: str | None = None,
        default_store: bool | None = None,
        payer: Payer = ANONYMOUS,
    ) -> dict[str, Any]:
        """Queue a background turn: validated as `prepare` does (every 4xx now), then stored
        `queued` with its input, as a job any process may take. Returns the queued Response."""
        params = self._store_policy.apply(tenant, params, default_store)
        refuse_unsupported(params)
        if provider_key is not None:
            raise InvalidRequest(
                "Background responses run after the request ends, and a caller's own provider "
                "key is never stored: send the request without 'background' on this server.",
                param="background",
            )
        if params.store is False:
            raise InvalidRequest(
                "Background responses are stored: send 'background': true without 'store': false.",
                param="store",
            )
        await self._queue_room.check(self._store, tenant)
        self._providers.resolve(params.model)
        response_id = ids.new_id(ids.RESPONSE)
        history = await self._unclaimed_history(tenant, params)
        input_items = await normalize_input(self._store, tenant, params.input)
        await self._check_turn(tenant, params, history, input_items)
        history_view, input_view = self._compactions.views(tenant, history, input_items)
        check_tool_calls_answered(history_view + input_view)
        conversation_id = _conversation_id(params)
        record = self._new_record(tenant, params, response_id, None, "queued")
        record.conversation_id = conversation_id
        request = params.model_dump(mode="json", exclude_unset=True, by_alias=True)
        request[_PAYER] = payer.to_json()
        await self._store.enqueue_turn(QueuedTurn(record, input_items, request))
        return response_object(record, [])

    async def prepare_job(self, job: Job, control: JobControl) -> PreparedTurn:
        """The turn of a taken background job, ready to run: its context is loaded now (a
        conversation's, once its earlier turns ran). Raises `ConversationLocked` while a turn
        started elsewhere holds its conversation, and what a create would raise if the job
        can no longer run (its model gone, its previous response deleted…)."""
        request = dict(job.request)
        payer = Payer.from_json(request.pop(_PAYER, None))
        params = ResponseCreateParams.model_validate(request)
        record = job.response
        provider, upstream_model = self._providers.resolve(params.model)
        history, claim = await self._history(record.tenant, params, record.id)
        try:
            turn = await self._prepare_turn(
                params,
                provider,
                upstream_model,
                record,
                history,
                job.inputs,
                claim,
                control,
                payer=payer,
            )
        except BaseException:
            if claim is not None:
                await self._conversations.release(claim)
            raise
        self._running.adopt(record)
        return turn

    async def end_job(self, job: Job, status: str, failure: ThreadlineError | None = None) -> None:
        """End a taken job whose turn never ran: `failed` with why (`prepare_job` raised), or
        `cancelled` before it started."""
        error = None if failure is None else response_error(failure)
        record = dataclasses.replace(job.response, status=status, error=error)
        await self._store.save_turn(TurnRecord(record, [], [], background=True, started=True))

    def _new_record(
        self,
        tenant: str,
        params: ResponseCreateParams,
        response_id: str,
        claim: ConversationTurn | None,
        status: str,
    ) -> ResponseRecord:
        return ResponseRecord(
            id=response_id,
            tenant=tenant,
            created_at=self._clock(),
            status=status,
            model=params.model,
            settings=echoed_settings(params),
            previous_response_id=params.previous_response_id,
            conversation_id=None if claim is None else claim.conversation_id,
        )

    async def _check_turn(
        self,
        tenant: str,
        params: ResponseCreateParams,
        history: list[Item],
        input_items: list[Item],
        *,
        api_key: str | None = None,
    ) -> tuple[ClientChoice, ServerToolPlan | None]:
        """The checks of a turn's context and tools (each raises its 4xx)."""
        refuse_empty_turn(params, history)
        self._view.check_sealed(tenant, input_items)
        choice = read_responses_choice(params.tool_choice)
        context = PlanContext(
            tenant,
            params,
            history,
            input_items,
            self._tools,
            file_search=self._file_search,
            api_key=api_key,
        )
        server_tools = plan_server_tools(context, choice)
        if server_tools is not None:
            await server_tools.check()
        return choice, server_tools

    async def _prepare_turn(
        self,
        params: ResponseCreateParams,
        provider: ModelProvider,
        upstream_model: str,
        record: ResponseRecord,
        history: list[Item],
        input_items: list[Item],
        claim: ConversationTurn | None,
        job: JobControl | None = None,
        *,
        api_key: str | None = None,
        payer: Payer = ANONYMOUS,
    ) -> PreparedTurn:
        tenant = record.tenant
        choice, server_tools = await self._check_turn(
            tenant, params, history, input_items, api_key=api_key
        )
        request, dropped = await self._view.request(
            tenant, params, provider, upstream_model, history, input_items, choice, api_key=api_key
        )
        preamble: tuple[Item, ...] = ()
        preamble_usage: UsageReport | None = None
        threshold = self._view.compact_threshold(params)
        if threshold is not None and self._view.estimate(request) > threshold:
            # The context is over the threshold: compact it first. The model answers from the
            # user messages and the summary; the compaction item opens the output, so later
            # turns start from it too.
            summary, preamble_usage = await _answer(provider, _summary_request(request))
            preamble = (self._compactions.item(tenant, summary),)
            request, dropped = await self._view.request(
                tenant,
                params,
                provider,
                upstream_model,
                history,
                [*input_items, *preamble],
                choice,
                api_key=api_key,
            )
        if dropped:
            # Recorded with the response (not echoed: the Response object has no field for it).
            record.settings["truncated_items"] = dropped
        return PreparedTurn(
            record,
            input_items,
            provider,
            request,
            store=params.store is not False,
            server_tools=server_tools,
            conversation=claim,
            job=job,
            preamble=preamble,
            preamble_usage=preamble_usage,
            payer=payer,
            disclosure=disclosure(params.include, stored=params.store is not False),
        )

    async def _unstarted(
        self, tenant: str, params: ResponseCreateParams
    ) -> tuple[ModelProvider, str, list[Item], list[Item]]:
        """The provider, history and input of a request that starts no turn (a count, a
        compaction): nothing is claimed or stored."""
        refuse_unsupported(params)
        provider, upstream_model = self._providers.resolve(params.model)
        history = await self._unclaimed_history(tenant, params)
        input_items = await normalize_input(self._store, tenant, params.input)
        self._view.check_sealed(tenant, input_items)
        return provider, upstream_model, history, input_items

    async def count_input_tokens(
        self, tenant: str, params: ResponseCreateParams, *, provider_key: str | None = None
    ) -> TokenCount:
        """The input tokens `params` would send the model as a create (nothing is created,
        no conversation is claimed): the provider's own count where it has one."""
        provider, upstream_model, history, input_items = await self._unstarted(tenant, params)
        choice = read_responses_choice(params.tool_choice)
        request, _ = await self._view.request(
            tenant,
            params,
            provider,
            upstream_model,
            history,
            input_items,
            choice,
            api_key=provider_key,
        )
        return await provider.count_input_tokens(request)

    async def compact(
        self,
        tenant: str,
        params: ResponseCreateParams,
        *,
        provider_key: str | None = None,
        payer: Payer = ANONYMOUS,
    ) -> dict[str, Any]:
        """`POST /v1/responses/compact`: the model's checkpoint summary of the context,
        returned as the context's user messages and a sealed `compaction` item."""
        provider, upstream_model, history, input_items = await self._unstarted(tenant, params)
        context = history + input_items
        if not context:
            raise InvalidRequest("There is nothing to compact: send 'input'.", param="input")
        request, _ = await self._view.request(
            tenant,
            params,
            provider,
            upstream_model,
            context,
            [prompt_message()],
            read_responses_choice(None),
            check_calls=False,
            api_key=provider_key,
        )
        started_at = self._clock()
        summary, usage = await _answer(provider, dataclasses.replace(request, incremental=False))
        counts = usage or UsageReport(0, 0)
        kept = self._compactions.user_messages_since_last(context)
        compaction_id = ids.new_id(ids.RESPONSE)
        if self._meter is not None:
            await self._meter.charge(
                Charge(
                    tenant=tenant,
                    payer=payer,
                    kind="compaction",
                    model=params.model,
                    deployment=upstream_model,
                    usage=counts,
                    started_at=started_at,
                    object_id=compaction_id,
                    end_user=self._meter.end_user(
                        params.user, params.safety_identifier, params.metadata
                    ),
                )
            )
        return {
            "id": compaction_id,
            "object": "response.compaction",
            "created_at": int(self._clock()),
            "output": [*kept, self._compactions.item(tenant, summary)],
            "usage": usage_object(
                counts.input_tokens,
                counts.output_tokens,
                counts.cached_tokens,
                counts.reasoning_tokens,
            ),
        }

    def run(self, turn: PreparedTurn) -> TurnRun:
        """The turn's run: its events, streamed or read by `complete`, then its outcome."""
        return self._runner.run(turn)

    async def complete(self, run: TurnRun) -> CreatedResponse:
        """Run the turn without streaming; the terminal event carries the final response."""
        run.terminal_only = True
        last: Event | None = None
        async for event in run.events:
            last = event
        if last is None or run.outcome is None:  # a run always ends with a terminal event
            raise RuntimeError("turn ended without a terminal event")
        response = shown_response(last["response"], run.turn.disclosure)
        return CreatedResponse(response, run.outcome.failure)

    async def retrieve(
        self, tenant: str, response_id: str, include: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The response; one still running here shows its output so far (elsewhere, what is
        stored: `in_progress` and its input)."""
        shown = disclosure(include)
        if (live := self._running.live(tenant, response_id)) is not None:
            return shown_response(live, shown)
        stored = await self._store.get_response(tenant, response_id)
        if stored is None:
            raise _response_not_found(response_id)
        return shown_response(response_object(stored.record, stored.output), shown)

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
        return shown_page(item_page(page), disclosure(query.include))

    async def _history(
        self, tenant: str, params: ResponseCreateParams, response_id: str
    ) -> tuple[list[Item], ConversationTurn | None]:
        """The items the turn continues from; a conversation turn also claims its
        conversation (the caller releases the claim if the turn never runs)."""
        if params.previous_response_id is not None:
            return await self._chain(tenant, params.previous_response_id), None
        conversation_id = _conversation_id(params)
        if conversation_id is not None:
            claim, items = await self._conversations.begin_turn(
                tenant, conversation_id, response_id
            )
            return items, claim
        return [], None

    async def _chain(self, tenant: str, previous_response_id: str) -> list[Item]:
        # A turn running here may not have committed its start yet: it is in progress, not
        # missing (one running on another replica is seen once its start commits).
        if self._running.runs(tenant, previous_response_id):
            raise PreviousResponseInProgress(previous_response_id)
        chain = await self._store.load_chain(tenant, previous_response_id)
        if chain is None:
            hint = self._store_policy.unstored_hint(tenant)
            raise PreviousResponseNotFound(previous_response_id, hint)
        return chain

    async def _unclaimed_history(self, tenant: str, params: ResponseCreateParams) -> list[Item]:
        """The items the turn would continue from now, without claiming its conversation (a
        background turn's is claimed when its job runs)."""
        if params.previous_response_id is not None:
            return await self._chain(tenant, params.previous_response_id)
        conversation_id = _conversation_id(params)
        if conversation_id is not None:
            return await self._conversations.read_open(tenant, conversation_id)
        return []


def _summary_request(request: ProviderRequest) -> ProviderRequest:
    """`request` turned into the request for a checkpoint summary of its context."""
    return dataclasses.replace(
        request,
        items=[*request.items, prompt_message()],
        tools=[],
        tool_choice=None,
        parallel_tool_calls=None,
        text_format=None,
        incremental=False,
    )


async def _answer(
    provider: ModelProvider, request: ProviderRequest
) -> tuple[str, UsageReport | None]:
    """The text the model answers `request` with, and what it reported using."""
    text: list[str] = []
    usage: UsageReport | None = None
    async for event in provider.stream(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, UsageReport):
            usage = event
    return "".join(text), usage


def _conversation_id(params: ResponseCreateParams) -> str | None:
    conversation = params.conversation
    return (
        conversation if conversation is None or isinstance(conversation, str) else conversation.id
    )


def _response_not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id")
