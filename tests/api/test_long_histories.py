"""On a long chain the model is sent its whole history, in order, on every turn, though the
passes over it carry what they found from one turn to the next (prefix_memo.py): an earlier
message never changes, each turn adds its own, and a file deleted since is told as gone."""

from __future__ import annotations

import openai

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream

TURNS = 80
"""Enough items (two a turn) to pass the length from which the passes keep their results."""
FILE_TURN, CALL_TURN = 10, 20

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {}},
}


def test_every_turn_of_a_long_chain_sends_the_whole_history_in_order(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    notes = client.files.create(file=("notes.txt", b"The dice are loaded."), purpose="user_data")
    previous: str | None = None
    before: list[dict[str, object]] = []
    file_message, call_id = -1, ""
    for turn in range(TURNS + 1):
        extra: dict[str, object] = {}
        if turn == FILE_TURN:
            parts = [
                {"type": "input_text", "text": "read this"},
                {"type": "input_file", "file_id": notes.id},
            ]
            turn_input: object = [{"role": "user", "content": parts}]
        elif turn == CALL_TURN:
            turn_input, extra = "call get_weather {}", {"tools": [WEATHER]}
        elif turn == CALL_TURN + 1:
            turn_input = [{"type": "function_call_output", "call_id": call_id, "output": "sunny"}]
        else:
            turn_input = f"turn {turn}"
        if turn == TURNS:
            client.files.delete(notes.id)
        response = client.responses.create(
            model=MODEL,
            input=turn_input,  # type: ignore[arg-type]
            previous_response_id=previous,  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
        assert response.status == "completed", (turn, response.error)
        if turn == CALL_TURN:
            call_id = response.output[0].call_id  # type: ignore[union-attr]
        sent = fake.last_request()["body"]["messages"]
        if turn == FILE_TURN:
            file_message = len(sent) - 1
            assert "The dice are loaded." in sent[file_message]["content"]
        if turn < TURNS:
            assert sent[: len(before)] == before, turn  # nothing sent before has changed
        else:
            pairs = zip(before, sent, strict=False)
            changed = [i for i, (was, now) in enumerate(pairs) if was != now]
            assert changed == [file_message]
            assert f"[No such File object: {notes.id}]" in sent[file_message]["content"]
        added = sent[len(before) :]
        if turn > 0:
            assert added[0]["role"] == "assistant"  # the answer of the turn before
        assert added[-1]["role"] == ("tool" if turn == CALL_TURN + 1 else "user")
        before, previous = sent, response.id
    assert len(before) == 2 * TURNS + 1
