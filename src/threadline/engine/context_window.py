"""`truncation: "auto"`: fit a turn's context into its model's window by dropping whole
oldest turns of its history.

A turn of the history starts at a user message and runs to the next one, so a tool call never
loses its output and an answer never loses its question; the instructions, this turn's input
and the turn whose tool calls that input answers are never dropped. The budget is the context
window less the answer's allowance (the request's `max_output_tokens`, else the model's largest
answer), as OpenAI reserves it. Sizes are the local tokenizer's estimate
(providers/token_estimate.py), kept per item id, and the history is walked from its newest item
back, so a turn measures only what it keeps, however long the conversation. If even the input
alone does not fit, nothing more is dropped and the model's refusal fails the turn as with
`disabled`.
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
        history) and it fit `budget` tokens; and how many items were dropped.

        Walked from the newest item back, so a turn costs what is kept, not the whole history:
        the kept part starts at the oldest turn start whose suffix fits (or at the end, when
        not even the newest turn fits), but never after the turn whose calls the input
        answers."""
        room = budget - token_estimate.estimate(base).tokens
        start = len(history)
        used = 0
        for index in range(len(history) - 1, -1, -1):
            used += self._size(base.model, history[index])
            if used > room:
                break
            if index == 0 or _starts_turn(history[index]):
                start = index
        start = _answered_turn(base, history, start)
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


def _starts_turn(item: Item) -> bool:
    """A turn of the history starts at a user message."""
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _answered_turn(base: ProviderRequest, history: list[Item], start: int) -> int:
    """`start`, or the start of an earlier turn holding a call this turn's input answers (it
    is kept with its output)."""
    answered = {
        item.get("call_id") for item in base.items if item.get("type") == "function_call_output"
    }
    answered.discard(None)
    if not answered:
        return start
    earliest = start
    for index in range(len(history) - 1, -1, -1):
        item = history[index]
        if item.get("type") == "function_call" and item.get("call_id") in answered:
            answered.discard(item.get("call_id"))
            earliest = min(earliest, index)
            if not answered:
                break
    if earliest >= start:
        return start
    while earliest > 0 and not _starts_turn(history[earliest]):
        earliest -= 1
    return earliest
