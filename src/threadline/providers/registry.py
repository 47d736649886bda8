"""Which provider serves which model name."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.errors import ModelNotFound
from threadline.providers.base import ModelProvider

_SEPARATORS = ("/", "@")
"""Between a configured provider's name and the model; a prefix that names no provider leaves
the name whole (`meta-llama/llama-3`, Vertex's `claude-3-5-sonnet@20240620`)."""


class ProviderRegistry:
    """Routes an alias to its routed model (`routing.py`), `provider/model` (or
    `provider@model`, the OpenResponses server's syntax) to that provider, and any other name
    to the default provider.

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
        """The provider of `provider/model` or `provider@model` (or of the default provider),
        aliases aside."""
        for separator in _SEPARATORS:
            prefix, sep, rest = model.partition(separator)
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
