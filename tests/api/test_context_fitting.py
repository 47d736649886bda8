"""`truncation: "auto"`'s fitting, on its own: whole oldest turns out until the rest fits,
walked from the newest item; the turn whose call the input answers stays however old it is;
nothing of the history when not even the newest turn fits."""

from __future__ import annotations

from typing import Any

from threadline.engine.context_window import ContextFitter
from threadline.providers.base import ProviderRequest


def user(n: int, words: int = 10) -> dict[str, Any]:
    return {"id": f"u{n}", "type": "message", "role": "user", "content": "w " * words}


def said(n: int, words: int = 10) -> dict[str, Any]:
    return {"id": f"a{n}", "type": "message", "role": "assistant", "content": "w " * words}


def call(n: int) -> dict[str, Any]:
    return {"id": f"c{n}", "type": "function_call", "call_id": f"call{n}", "name": "f"}


def history(turns: int) -> list[dict[str, Any]]:
    return [item for n in range(turns) for item in (user(n), said(n))]


def base(*items: dict[str, Any]) -> ProviderRequest:
    return ProviderRequest(model="gpt-4o", items=list(items) or [user(99, 1)])


def fitted(request: ProviderRequest, past: list[dict[str, Any]], budget: int) -> list[str]:
    kept, dropped = ContextFitter().fit(request, past, budget)
    assert dropped == len(past) - len(kept)
    return [item["id"] for item in kept]


def test_whole_oldest_turns_go_until_the_rest_fits() -> None:
    past = history(50)
    everything = fitted(base(), past, 100_000)
    assert len(everything) == 100
    some = fitted(base(), past, 200)
    assert 2 < len(some) < 100 and some[0].startswith("u") and some[-1] == "a49"
    assert fitted(base(), past, 1) == []  # not even the newest turn fits


def test_the_turn_whose_call_the_input_answers_stays_however_old() -> None:
    past = [user(0), call(0), *history(40)[2:]]  # turn 0 asked for a call
    answer = {"type": "function_call_output", "call_id": "call0", "output": "x"}
    kept = fitted(base(answer), past, 200)
    assert kept[:2] == ["u0", "c0"] and kept[-1] == "a39"


def test_a_history_that_does_not_start_with_a_user_message_is_a_turn_from_its_start() -> None:
    past = [said(0), *history(3)]
    assert fitted(base(), past, 100_000)[0] == "a0"
    cut = fitted(base(), past, 60)
    assert cut and cut[0].startswith("u") and cut[-1] == "a2"
