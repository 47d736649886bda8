"""Build the concrete parts (store, providers, services) from one `Settings` object.

Shared by the two composition roots, the HTTP app and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline import open_files
from threadline.engine.api_keys import Authenticator
from threadline.engine.audit import AuditLog
from threadline.engine.chat_completions import ChatCompletionService
from threadline.engine.conversations.claims import ConversationPolicy
from threadline.engine.conversations.service import ConversationService
from threadline.engine.conversations.transfer import ConversationTransfer
from threadline.engine.embeddings import EmbeddingService
from threadline.engine.export import PipelineExport
from threadline.engine.files.inputs import FileInputs, FileUrlLimits
from threadline.engine.files.service import FileService
from threadline.engine.responses.background import BackgroundJobs
from threadline.engine.responses.running_turns import RunningTurns
from threadline.engine.responses.service import ResponseService
from threadline.engine.retention import RetentionSweeper
from threadline.engine.sealing import Sealer
from threadline.engine.search import ItemFinder
from threadline.engine.store_policy import StorePolicy
from threadline.engine.stored_completions import StoredCompletions
from threadline.engine.tenant_erasure import TenantErasure
from threadline.engine.usage.admission import Gatekeeper
from threadline.engine.usage.meter import UsageMeter
from threadline.engine.usage.prices import ModelPrice, PriceTable
from threadline.engine.usage.reports import UsageReports
from threadline.engine.vector_stores.embedding import Embedder
from threadline.engine.vector_stores.ingestion import Ingestion
from threadline.engine.vector_stores.search import VectorSearch
from threadline.engine.vector_stores.service import VectorStoreService
from threadline.engine.webhooks.dispatcher import WebhookDispatcher
from threadline.engine.webhooks.sealing import SealedSecrets
from threadline.engine.webhooks.service import WebhookService
from threadline.providers.kinds import ProviderConfig, build_provider
from threadline.providers.model_limits import ModelLimits
from threadline.providers.registry import ProviderRegistry
from threadline.providers.retry import RetryPolicy
from threadline.providers.routing import Deployment, routed_models
from threadline.settings import Settings
from threadline.storage.base import Store
from threadline.storage.factory import open_store
from threadline.storage.local_files import LocalFileStore
from threadline.tools.base import ServerTools, WebhookSender
from threadline.tools.fetch import HttpFetcher
from threadline.tools.fetch_cache import FetchCache
from threadline.tools.mcp import SdkMcpClient
from threadline.tools.outbound import OutboundPolicy
from threadline.tools.web_search import CONFIGURE_HINT, build_web_search
from threadline.tools.webhooks import HttpWebhookSender


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    providers: ProviderRegistry
    responses: ResponseService
    chat: ChatCompletionService
    embeddings: EmbeddingService
    conversations: ConversationService
    transfer: ConversationTransfer
    sweeper: RetentionSweeper
    stored_completions: StoredCompletions
    export: PipelineExport
    background: BackgroundJobs
    webhooks: WebhookService
    webhook_dispatcher: WebhookDispatcher
    webhook_sender: WebhookSender
    auth: Authenticator
    files: FileService
    vector_stores: VectorStoreService
    ingestion: Ingestion
    tools: ServerTools
    meter: UsageMeter
    gatekeeper: Gatekeeper
    usage: UsageReports
    audit: AuditLog
    search: ItemFinder
    tenant_erasure: TenantErasure

    def start_loops(self) -> None:
        """Start the work every process does beside requests (background jobs aside, which
        the app starts and drains itself)."""
        self.webhook_dispatcher.start()
        self.ingestion.start()
        self.meter.start()

    async def stop_loops(self) -> None:
        await self.webhook_dispatcher.stop()
        await self.ingestion.stop()
        await self.meter.stop()

    async def aclose(self) -> None:
        await self.webhook_sender.aclose()
        await self.providers.aclose()
        await self.tools.aclose()
        await self.store.close()


def build_providers(settings: Settings) -> ProviderRegistry:
    """Each declared provider's adapter, by its kind (`providers/kinds.py`), and the aliases."""
    retry = RetryPolicy(
        max_retries=settings.upstream_max_retries, backoff=settings.upstream_retry_backoff
    )
    providers = {
        name: build_provider(
            config.kind,
            ProviderConfig(
                name=name,
                base_url=config.endpoint,
                api_key=config.resolved_api_key(),
                headers=config.headers,
                models=config.models,
                native_files=config.native_files,
                send_reasoning=config.send_reasoning,
                max_tokens_param=config.max_tokens_param,
                max_output_tokens=config.max_output_tokens,
                model_limits={
                    model: ModelLimits(limit.context_window, limit.max_output_tokens)
                    for model, limit in config.model_limits.items()
                },
                connect_timeout=settings.upstream_connect_timeout,
                read_timeout=settings.upstream_read_timeout,
                max_connections=settings.upstream_max_connections
                or open_files.connections_that_fit(),
                retry=retry,
                history_memo_bytes=settings.context_cache_mb * 1024 * 1024,
            ),
        )
        for name, config in settings.providers.items()
    }
    registry = ProviderRegistry(providers, settings.default_provider)
    registry.aliases = routed_models(
        {
            name: ([Deployment(route, 1.0)], "fallback", 0.0)
            if isinstance(route, str)
            else (
                [Deployment(d.model, d.weight) for d in route.deployment_list()],
                route.strategy,
                route.cooldown_seconds,
            )
            for name, route in settings.aliases.items()
        },
        registry.resolve_direct,
    )
    return registry


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """The guard on every URL a caller makes the server reach (tools/outbound.py)."""
    return OutboundPolicy(
        allow_private=settings.outbound_allow_private,
        allowed_hosts=settings.outbound_allowed_hosts,
    )


def build_server_tools(settings: Settings) -> ServerTools:
    """MCP, web search and the file_url fetcher, behind the outbound guard."""
    policy = outbound_policy(settings)
    key = settings.web_search_api_key
    return ServerTools(
        mcp=SdkMcpClient(
            policy,
            connect_timeout=settings.mcp_connect_timeout,
            call_timeout=settings.mcp_call_timeout,
            max_sessions=settings.mcp_max_sessions,
            session_idle_seconds=settings.mcp_session_idle_seconds,
        ),
        fetcher=HttpFetcher(
            policy,
            max_bytes=settings.max_file_bytes,
            timeout=settings.outbound_timeout,
            cache=FetchCache(settings.file_url_cache_mb * 1024 * 1024)
            if settings.file_url_cache_mb
            else None,
        ),
        web_search=build_web_search(
            settings.web_search_backend,
            url=settings.web_search_url,
            api_key=key.get_secret_value() if key else None,
            timeout=settings.web_search_timeout,
        ),
        web_search_hint=CONFIGURE_HINT,
        max_iterations=settings.max_tool_iterations,
    )


async def build_services(settings: Settings) -> Services:
    tools = build_server_tools(settings)  # first: a bad web search setting stops start-up
    store = open_store(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        context_cache_bytes=settings.context_cache_mb * 1024 * 1024,
        codec=settings.content_codec(),
    )
    await store.migrate()
    providers = build_providers(settings)
    policy = ConversationPolicy(
        store,
        idle_ttl=settings.conversation_idle_ttl,
        lease_seconds=settings.turn_lease_seconds,
    )
    conversations = ConversationService(store, policy)
    file_store = LocalFileStore(settings.data_dir)
    meter = UsageMeter(
        store,
        PriceTable(
            {
                model: ModelPrice(price.input, price.output, price.cached_input)
                for model, price in settings.model_prices.items()
            }
        ),
        end_user_metadata_key=settings.usage_end_user_metadata_key,
        flush_seconds=settings.usage_flush_seconds,
    )
    embedder = Embedder(providers, meter)
    search = VectorSearch(store, embedder)
    # What the passes over long histories keep between turns: bounded as the histories are.
    memo_bytes = settings.context_cache_mb * 1024 * 1024
    file_inputs = FileInputs(
        file_store,
        tools.fetcher,
        limits=FileUrlLimits(
            max_parts=settings.file_url_max_parts,
            max_bytes=settings.file_url_max_request_bytes,
            timeout=settings.outbound_timeout,
        ),
        memo_bytes=memo_bytes,
    )
    running = RunningTurns(store, lease_seconds=settings.turn_lease_seconds)
    responses = ResponseService(
        store,
        providers,
        policy,
        tools=tools,
        file_search=search,
        file_inputs=file_inputs,
        running=running,
        queue_limit=settings.background_queue_limit,
        tenant_queue_limit=settings.background_tenant_queue_limit,
        store_policy=StorePolicy(settings.default_store, settings.tenant_default_store),
        meter=meter,
        sealer=Sealer(
            [key.get_secret_value() for key in settings.compaction_keys],
            settings.data_dir / "compaction.key",
        ),
        history_memo_bytes=memo_bytes,
    )
    sealed = SealedSecrets(
        settings.webhook_key.get_secret_value() if settings.webhook_key else None,
        settings.data_dir,
    )
    sender = HttpWebhookSender(outbound_policy(settings), timeout=settings.webhook_timeout)
    dispatcher = WebhookDispatcher(
        store,
        sealed,
        sender,
        owner=running.owner,
        poll_interval=settings.background_poll_interval,
        retry_seconds=settings.webhook_retry_seconds,
        max_attempts=settings.webhook_max_attempts,
        send_timeout=settings.webhook_timeout,
    )
    ingestion = Ingestion(
        store,
        file_store,
        embedder,
        owner=running.owner,
        concurrency=settings.ingestion_concurrency,
        poll_interval=settings.background_poll_interval,
        lease_seconds=settings.ingestion_lease_seconds,
    )
    vector_stores = VectorStoreService(
        store,
        file_store,
        search,
        embedding_model=settings.vector_store_embedding_model,
        on_files_added=ingestion.wake,
    )
    return Services(
        settings=settings,
        store=store,
        providers=providers,
        responses=responses,
        background=BackgroundJobs(
            store,
            responses,
            running,
            concurrency=settings.background_concurrency,
            poll_interval=settings.background_poll_interval,
            on_end=dispatcher.wake,
        ),
        webhooks=WebhookService(store, sealed, sender),
        webhook_dispatcher=dispatcher,
        webhook_sender=sender,
        chat=ChatCompletionService(providers, file_inputs, store, meter=meter),
        stored_completions=StoredCompletions(store),
        export=PipelineExport(store, tombstone_retention=settings.export_tombstone_retention),
        embeddings=EmbeddingService(providers, meter),
        conversations=conversations,
        transfer=ConversationTransfer(store, conversations, policy),
        sweeper=RetentionSweeper(
            store,
            response_retention=settings.response_retention,
            idle_ttl=settings.conversation_idle_ttl,
            tenant_retention=settings.tenant_response_retention,
            tombstone_retention=settings.export_tombstone_retention,
        ),
        auth=Authenticator(store, bring_your_own_key=settings.bring_your_own_key),
        files=FileService(file_store, max_bytes=settings.max_file_bytes),
        tenant_erasure=TenantErasure(store, file_store),
        vector_stores=vector_stores,
        ingestion=ingestion,
        tools=tools,
        meter=meter,
        gatekeeper=Gatekeeper(store, meter),
        usage=UsageReports(store, meter),
        audit=AuditLog(store, reads=settings.audit_reads),
        search=ItemFinder(store),
    )
