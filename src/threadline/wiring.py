"""Build the concrete parts (store, providers, services) from one `Settings` object.

Shared by the two composition roots, the HTTP app and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.engine.api_keys import Authenticator
from threadline.engine.conversation_service import ConversationService
from threadline.engine.conversation_transfer import ConversationTransfer
from threadline.engine.conversations import ConversationPolicy
from threadline.engine.responses import ResponseService
from threadline.engine.retention import RetentionSweeper
from threadline.providers.openai_chat import OpenAIChatProvider
from threadline.providers.registry import ProviderRegistry
from threadline.settings import Settings
from threadline.storage.base import Store
from threadline.storage.factory import open_store


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    providers: ProviderRegistry
    responses: ResponseService
    conversations: ConversationService
    transfer: ConversationTransfer
    sweeper: RetentionSweeper
    auth: Authenticator

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.store.close()


def build_providers(settings: Settings) -> ProviderRegistry:
    providers = {
        name: OpenAIChatProvider(
            name,
            config.base_url,
            api_key=config.resolved_api_key(),
            headers=config.headers,
            max_tokens_param=config.max_tokens_param,
            models=config.models,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
        )
        for name, config in settings.providers.items()
    }
    return ProviderRegistry(providers, settings.default_provider)


async def build_services(settings: Settings) -> Services:
    store = open_store(settings.database_url)
    await store.migrate()
    providers = build_providers(settings)
    policy = ConversationPolicy(store, idle_ttl=settings.conversation_idle_ttl)
    conversations = ConversationService(store, policy)
    return Services(
        settings=settings,
        store=store,
        providers=providers,
        responses=ResponseService(store, providers, policy),
        conversations=conversations,
        transfer=ConversationTransfer(store, conversations, policy),
        sweeper=RetentionSweeper(
            store,
            response_retention=settings.response_retention,
            idle_ttl=settings.conversation_idle_ttl,
        ),
        auth=Authenticator(store),
    )
