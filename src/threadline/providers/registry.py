"""Which provider serves which model name."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.errors import ModelNotFound
from threadline.providers.base import ModelProvider
from threadline.providers.model_limits import ModelLimits
from threadline.providers.routing import RoutedModel

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

    def limits(self, model: str) -> ModelLimits | None:
        """The model's context window and output cap, if known; an alias has the smallest of
        its deployments' (any of them may serve a call)."""
        routed = self.aliases.get(model)
        if isinstance(routed, RoutedModel):
            each = [self.limits(deployment.model) for deployment in routed.deployments]
            known = [limits for limits in each if limits is not None]
            if not known or len(known) < len(each):
                return None
            return ModelLimits(
                min(limits.context_window for limits in known),
                min(limits.max_output_tokens for limits in known),
            )
        provider, upstream_model = self.resolve_direct(model)
        return provider.capabilities.limits(upstream_model)

    async def list_models(self, api_key: str | None = None) -> list[str]:
        names: list[str] = list(self.aliases)
        for provider_name, provider in self.providers.items():
            for model in await provider.list_models(api_key):
                names.append(model if provider_name == self.default else f"{provider_name}/{model}")
        return names

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
