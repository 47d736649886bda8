"""Model aliases served by several deployments: ordered fallback, weighted balance, cooldown.

An alias is a model name of Threadline's own (`smart`), served by deployments, each a provider
and a model (`anthropic/claude-…`, `openai/gpt-…`). A call tries them in order (`fallback`: as
listed; `balance`: a weighted random order, so requests spread by weight) and moves to the next
when one fails before its first event with what another deployment may not share: a rate limit
(429), a server error (5xx), a timeout, no connection. A refusal of the request itself (400,
401, 404) is the caller's to see, from the first deployment. Once a deployment has sent an
event, its failure is final: what was relayed cannot be taken back.

A deployment that failed that way is passed over for `cooldown_seconds` (unless every one is
cooling down: then they are all tried, in order). Providers are looked up in the registry at
each call, so the deployments' calls go through whatever wraps them there (metrics count each
deployment under its own provider and model).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from threadline.errors import UpstreamError, UpstreamTimeout
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    ModelProvider,
    ProviderCapabilities,
    ProviderEvent,
    ProviderRequest,
    Served,
    TokenCount,
)

log = logging.getLogger(__name__)

Resolve = Callable[[str], tuple[ModelProvider, str]]
"""`provider/model` → the provider (as registered now) and the model name it knows."""


@dataclass(frozen=True, slots=True)
class Deployment:
    model: str
    """`provider/model`, as configured."""
    weight: float = 1.0


class RoutedModel:
    """A `ModelProvider` for one alias."""

    def __init__(
        self,
        name: str,
        deployments: list[Deployment],
        resolve: Resolve,
        *,
        strategy: str = "fallback",
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not deployments:
            raise ValueError(f"alias {name!r} has no deployment")
        self.name = name
        self.deployments = list(deployments)
        self._resolve = resolve
        self._balance = strategy == "balance"
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._rng = rng or random.Random()
        self._cooling_until: dict[str, float] = {}

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        last: UpstreamError | None = None
        for deployment in self._order():
            provider, model = self._resolve(deployment.model)
            started = False
            try:
                async for event in provider.stream(dataclasses.replace(request, model=model)):
                    if not started:
                        started = True
                        yield Served(deployment.model)
                    yield event
                return
            except UpstreamError as exc:
                if started or not _fails_over(exc):
                    raise
                self._cool(deployment, exc)
                last = exc
        assert last is not None  # the loop ran at least once and only falls through on failure
        raise last

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        last: UpstreamError | None = None
        for deployment in self._order():
            provider, model = self._resolve(deployment.model)
            try:
                return await provider.embed(dataclasses.replace(request, model=model))
            except UpstreamError as exc:
                if not _fails_over(exc):
                    raise
                self._cool(deployment, exc)
                last = exc
        assert last is not None
        raise last

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        """Counted by the deployment a call would go to first."""
        provider, model = self._resolve(self._order()[0].model)
        return await provider.count_input_tokens(dataclasses.replace(request, model=model))

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What every deployment can take: any of them may serve a call."""
        each = [self._resolve(d.model)[0].capabilities for d in self.deployments]
        return ProviderCapabilities(
            native_files=all(c.native_files for c in each),
            stop_sequences=all(c.stop_sequences for c in each),
        )

    async def list_models(self, api_key: str | None = None) -> list[str]:
        return [self.name]

    async def aclose(self) -> None:
        """The deployments' providers belong to the registry, which closes them."""

    def _order(self) -> list[Deployment]:
        if self._balance:
            # Weighted random order (Efraimidis and Spirakis): the first is drawn by weight, and
            # so is each next one among the rest.
            keyed = [(self._rng.random() ** (1.0 / d.weight), d) for d in self.deployments]
            ordered = [d for _, d in sorted(keyed, key=lambda pair: pair[0], reverse=True)]
        else:
            ordered = list(self.deployments)
        now = self._clock()
        ready = [d for d in ordered if self._cooling_until.get(d.model, 0.0) <= now]
        return ready or ordered

    def _cool(self, deployment: Deployment, exc: UpstreamError) -> None:
        self._cooling_until[deployment.model] = self._clock() + self._cooldown
        log.warning(
            "alias %s: deployment %s failed (%s, status %d); trying the next",
            self.name,
            deployment.model,
            exc.code or "no code",
            exc.status_code,
        )


def _fails_over(exc: UpstreamError) -> bool:
    return isinstance(exc, UpstreamTimeout) or exc.status_code == 429 or exc.status_code >= 500


def routed_models(
    aliases: Mapping[str, tuple[list[Deployment], str, float]], resolve: Resolve
) -> dict[str, ModelProvider]:
    """A `RoutedModel` for each alias: (deployments, strategy, cooldown seconds)."""
    return {
        name: RoutedModel(name, deployments, resolve, strategy=strategy, cooldown_seconds=cool)
        for name, (deployments, strategy, cool) in aliases.items()
    }
