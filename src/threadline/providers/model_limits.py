"""How much a model takes in and gives out: its context window and its largest answer, in
tokens. Declared per provider (`model_limits` in its settings), else known here for the
well-known model families by name; None for a model nobody told us about (truncation then
leaves its context whole)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelLimits:
    context_window: int
    max_output_tokens: int


# Longest prefix first: `gpt-4o-mini` before `gpt-4o` before `gpt-4`. From the providers'
# model pages (OpenAI, Anthropic), as of 2026.
_KNOWN: tuple[tuple[str, ModelLimits], ...] = (
    ("gpt-5", ModelLimits(400_000, 128_000)),
    ("gpt-4.1", ModelLimits(1_047_576, 32_768)),
    ("gpt-4o-mini", ModelLimits(128_000, 16_384)),
    ("gpt-4o", ModelLimits(128_000, 16_384)),
    ("gpt-4-turbo", ModelLimits(128_000, 4_096)),
    ("gpt-4", ModelLimits(8_192, 8_192)),
    ("gpt-3.5-turbo", ModelLimits(16_385, 4_096)),
    ("o4-mini", ModelLimits(200_000, 100_000)),
    ("o3", ModelLimits(200_000, 100_000)),
    ("o1", ModelLimits(200_000, 100_000)),
    ("claude-opus-4", ModelLimits(200_000, 32_000)),
    ("claude-sonnet-4", ModelLimits(200_000, 64_000)),
    ("claude-haiku-4", ModelLimits(200_000, 64_000)),
    ("claude-3-7-sonnet", ModelLimits(200_000, 64_000)),
    ("claude-3-5", ModelLimits(200_000, 8_192)),
)


def known_limits(model: str) -> ModelLimits | None:
    """The limits of a well-known model name (dated and `-latest` names included)."""
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, limits in _KNOWN:
        if name.startswith(prefix):
            return limits
    return None
