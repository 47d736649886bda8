"""The options that set an API key's limits (`keys create`, `keys limits`), and how they read."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from threadline.cli.times import length
from threadline.storage.usage import KeyLimits

ExpiresIn = Annotated[
    str | None,
    typer.Option(
        "--expires-in", help="Expire the key after this long: 90m, 12h, 30d. Expired: a 401."
    ),
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--models",
        help="The only models the key may name (comma-separated or repeated); others: a 403.",
    ),
]
Rpm = Annotated[
    int | None, typer.Option("--rpm", min=1, help="Requests per minute; over it: a 429.")
]
Tpm = Annotated[int | None, typer.Option("--tpm", min=1, help="Tokens per minute; over it: a 429.")]
DailyBudget = Annotated[
    float | None,
    typer.Option(
        "--daily-budget", min=0, help="US dollars per UTC day, by the price table; spent: a 429."
    ),
]
MonthlyBudget = Annotated[
    float | None,
    typer.Option("--monthly-budget", min=0, help="US dollars per UTC month; spent: a 429."),
]


def models_of(given: list[str] | None) -> tuple[str, ...] | None:
    if given is None:
        return None
    return tuple(m.strip() for part in given for m in part.split(",") if m.strip())


def with_options(
    limits: KeyLimits,
    now: float,
    *,
    expires_in: str | None,
    models: list[str] | None,
    rpm: int | None,
    tpm: int | None,
    daily_budget: float | None,
    monthly_budget: float | None,
) -> KeyLimits:
    """`limits` with each given option set (an option not given keeps its value)."""
    quota = limits.quota
    changes: dict[str, Any] = {
        "requests_per_minute": rpm,
        "tokens_per_minute": tpm,
        "daily_budget": daily_budget,
        "monthly_budget": monthly_budget,
    }
    quota = dataclasses.replace(quota, **{k: v for k, v in changes.items() if v is not None})
    return KeyLimits(
        expires_at=now + length(expires_in, "--expires-in")
        if expires_in is not None
        else limits.expires_at,
        models=models_of(models) if models is not None else limits.models,
        quota=quota,
    )
