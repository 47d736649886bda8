"""The price table behind the usage ledger's costs and keys' budgets (engine/usage/prices.py)."""

from __future__ import annotations

import pytest

from threadline.engine.usage.prices import ModelPrice, PriceTable
from threadline.providers.base import UsageReport

MILLION = UsageReport(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(
    ("model", "dollars"),
    [
        ("gpt-4o", 2.50 + 10.0),
        ("gpt-4o-2024-08-06", 2.50 + 10.0),
        ("openai/gpt-4o-mini", 0.15 + 0.60),
        ("claude-sonnet-4-5-20250929", 3.0 + 15.0),
        ("claude-3-5-haiku-latest", 0.80 + 4.0),
    ],
)
def test_a_known_model_is_priced_by_its_name_without_version_or_provider(
    model: str, dollars: float
) -> None:
    assert PriceTable().cost((model,), MILLION) == pytest.approx(dollars)


def test_a_variant_priced_unlike_its_family_is_not_guessed() -> None:
    assert PriceTable().price("o3-pro") is None
    assert PriceTable().cost(("o3-pro", "my-model"), MILLION) == 0.0


def test_cached_input_is_billed_at_its_own_price() -> None:
    usage = UsageReport(input_tokens=1_000_000, output_tokens=0, cached_tokens=400_000)
    assert PriceTable().cost(("gpt-4.1",), usage) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5)
    no_cache_price = PriceTable({"local": ModelPrice(1.0, 2.0)})
    assert no_cache_price.cost(("local",), usage) == pytest.approx(1.0)


def test_the_operator_s_prices_add_models_and_override_the_defaults() -> None:
    table = PriceTable({"gpt-4o": ModelPrice(1.0, 1.0), "my-llama": ModelPrice(0.2, 0.6)})
    assert table.cost(("gpt-4o",), MILLION) == pytest.approx(2.0)
    assert table.cost(("vllm@my-llama",), MILLION) == pytest.approx(0.8)


def test_the_deployment_s_price_comes_before_the_alias_s() -> None:
    table = PriceTable({"smart": ModelPrice(100.0, 100.0)})
    assert table.cost(("gpt-4o-mini", "smart"), MILLION) == pytest.approx(0.75)
