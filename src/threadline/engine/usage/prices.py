"""What a model call costs: a price table per model, in US dollars per million tokens.

The defaults are the list prices of well-known models (December 2026); the operator's
`model_prices` setting adds models and overrides these. A model is found by its exact name,
else by its name without a date or `-latest` suffix (`gpt-4o-2024-08-06` is priced as
`gpt-4o`, `claude-sonnet-4-5-20250929` as `claude-sonnet-4-5`). No closer guess is made: a
variant priced unlike its family (`o3-pro`) would be billed wrong. An unknown model costs 0:
usage is still counted in tokens, and `threadline usage --by model` shows which cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from threadline.providers.base import UsageReport


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens. Cached input defaults to the input price; reasoning
    tokens are output tokens (they are billed as output)."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: UsageReport) -> float:
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        fresh = usage.input_tokens - cached
        return (
            fresh * self.input + cached * cached_price + usage.output_tokens * self.output
        ) / 1e6


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-5": ModelPrice(1.25, 10.0, 0.125),
    "gpt-5-mini": ModelPrice(0.25, 2.0, 0.025),
    "gpt-5-nano": ModelPrice(0.05, 0.40, 0.005),
    "gpt-4.1": ModelPrice(2.0, 8.0, 0.50),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60, 0.10),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40, 0.025),
    "gpt-4o": ModelPrice(2.50, 10.0, 1.25),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, 0.075),
    "o3": ModelPrice(2.0, 8.0, 0.50),
    "o3-mini": ModelPrice(1.10, 4.40, 0.55),
    "o4-mini": ModelPrice(1.10, 4.40, 0.275),
    "o1": ModelPrice(15.0, 60.0, 7.50),
    "text-embedding-3-small": ModelPrice(0.02, 0.0),
    "text-embedding-3-large": ModelPrice(0.13, 0.0),
    "text-embedding-ada-002": ModelPrice(0.10, 0.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0, 0.50),
    "claude-opus-4-1": ModelPrice(15.0, 75.0, 1.50),
    "claude-opus-4": ModelPrice(15.0, 75.0, 1.50),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0, 0.30),
    "claude-sonnet-4": ModelPrice(3.0, 15.0, 0.30),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0, 0.10),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0, 0.08),
}

_VERSION_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


class PriceTable:
    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._found: dict[str, ModelPrice | None] = {}

    def price(self, model: str) -> ModelPrice | None:
        if model not in self._found:
            if len(self._found) > 4096:  # model names come from requests: bound the memo
                self._found.clear()
            self._found[model] = self._lookup(model)
        return self._found[model]

    def cost(self, models: tuple[str, ...], usage: UsageReport) -> float:
        """The cost of `usage` at the price of the first of `models` that has one."""
        for model in models:
            price = self.price(model)
            if price is not None:
                return price.cost(usage)
        return 0.0

    def _lookup(self, model: str) -> ModelPrice | None:
        name = model.rsplit("/", 1)[-1].rsplit("@", 1)[-1]
        if name in self._prices:
            return self._prices[name]
        return self._prices.get(_VERSION_SUFFIX.sub("", name))
