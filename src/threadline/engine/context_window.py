"""`truncation: "auto"`: fit a turn's context into its model's window by dropping whole
oldest turns of its history.

A turn of the history starts at a user message and runs to the next one, so a tool call never
loses its output and an answer never loses its question; the instructions, this turn's input
and the turn whose tool calls that input answers are never dropped. The budget is the context
window less the answer's allowance (the request's `max_output_tokens`, else the model's largest
answer), as OpenAI reserves it. Sizes are the local tokenizer's estimate
(providers/token_estimate.py), kept per item id, so a long history is measured once, not on
every turn. If even the input alone does not fit, nothing
more is dropped and the model's refusal fails the turn as with `disabled`.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

from threadline.providers import token_estimate
from threadline.providers.base import ProviderRequest
from threadline.storage.base import Item

_SIZES_KEPT = 200_000


class ContextFitter:
    def __init__(self) -> None:
        self._sizes: OrderedDict[tuple[str, str], int] = OrderedDict()

    def fit(
        self, base: ProviderRequest, history: list[Item], budget: int
    ) -> tuple[list[Item], int]:
        """`history` with its oldest turns dropped until `base` (the request without its
        history) and it fit `budget` tokens; and how many items were dropped."""
        fixed = token_estimate.estimate(base).tokens
        sizes = [self._size(base.model, item) for item in history]
        total = fixed + sum(sizes)
        answered = {
            item.get("call_id") for item in base.items if item.get("type") == "function_call_output"
        }
        start = 0
        while total > budget and start < len(history):
            end = _next_turn(history, start)
            if any(
                item.get("type") == "function_call" and item.get("call_id") in answered
                for item in history[start:end]
            ):
                break  # the turn whose calls this input answers goes with it
            total -= sum(sizes[start:end])
            start = end
        return history[start:], start

    def estimate(self, request: ProviderRequest) -> int:
        """`token_estimate.estimate(request)`, with its items' sizes kept by id."""
        framing = token_estimate.estimate(dataclasses.replace(request, items=[])).tokens
        return framing + sum(self._size(request.model, item) for item in request.items)

    def _size(self, model: str, item: Item) -> int:
        item_id = item.get("id")
        if not isinstance(item_id, str):
            return token_estimate.item_tokens(model, item)
        key = (model, item_id)
        size = self._sizes.get(key)
        if size is None:
            size = self._sizes[key] = token_estimate.item_tokens(model, item)
            if len(self._sizes) > _SIZES_KEPT:
                self._sizes.popitem(last=False)
        return size


def _next_turn(history: list[Item], start: int) -> int:
    """Where the turn after the one at `start` begins (its user message), or the end."""
    for index in range(start + 1, len(history)):
        item = history[index]
        if item.get("type", "message") == "message" and item.get("role") == "user":
            return index
    return len(history)
