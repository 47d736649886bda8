"""Which provider serves which model name."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.errors import ModelNotFound
from threadline.providers.base import ModelProvider


class ProviderRegistry:
    """Routes an alias to its routed model (`routing.py`), `provider/model` to that provider,
    and any other name to the default provider.

    A name whose prefix is not a provider (OpenRouter's `meta-llama/llama-3`, say) is sent
    whole to the default provider.
    """

    def __init__(
        self,
        providers: Mapping[str, ModelProvider],
        default: str | None,
        aliases: Mapping[str, ModelProvider] | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.default = default
        self.aliases = dict(aliases or {})

    def resolve(self, model: str) -> tuple[ModelProvider, str]:
        routed = self.aliases.get(model)
        if routed is not None:
            return routed, model
        return self.resolve_direct(model)

    def resolve_direct(self, model: str) -> tuple[ModelProvider, str]:
        """The provider of `provider/model` (or of the default provider), aliases aside."""
        prefix, sep, rest = model.partition("/")
        if sep and rest and prefix in self.providers:
            return self.providers[prefix], rest
        if self.default is not None and self.default in self.providers:
            return self.providers[self.default], model
        raise ModelNotFound(
            f"The model '{model}' does not exist: no provider is configured for it. Set "
            "OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint), or declare "
            "providers in the config file and name the model as 'provider/model'."
        )

    async def list_models(self) -> list[str]:
        names: list[str] = list(self.aliases)
        for provider_name, provider in self.providers.items():
            for model in await provider.list_models():
                names.append(model if provider_name == self.default else f"{provider_name}/{model}")
        return names

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
