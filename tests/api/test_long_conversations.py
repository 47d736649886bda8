"""A conversation of 2,000 turns on a model with a small window keeps answering: with
`truncation: "auto"` (the oldest whole turns left out of what the model is sent) and with
automatic compaction (each turn starts from the last summary). The model refuses more than
its window, as a real one does, so a context that grew past it would fail the turn."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import serving_providers
from threadline.engine.responses.compaction import SUMMARY_HEADING

TURNS = 2_000
SMALL_WINDOW = 400
"""For truncation: about 20 turns fit."""
COMPACTING_WINDOW = 3_000
"""For compaction: room above the smallest threshold OpenAI takes (1,000 tokens)."""


@pytest.fixture(scope="module")
def small(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("long")
    limits = {
        f"fake-window-{window}": {"context_window": window, "max_output_tokens": 40}
        for window in (SMALL_WINDOW, COMPACTING_WINDOW)
    }
    providers = {"small": {"base_url": fake.base_url, "api_key": "k", "model_limits": limits}}
    with serving_providers(fake.base_url, directory, providers, "small") as live:
        yield openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)


def _count_items(client: openai.OpenAI, conversation_id: str) -> int:
    return sum(1 for _ in client.conversations.items.list(conversation_id, limit=100))


@pytest.mark.timeout(400)
def test_two_thousand_turns_keep_answering_with_truncation_auto(
    small: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = small.conversations.create()
    for turn in range(TURNS):
        answer = small.responses.create(
            model=f"small/fake-window-{SMALL_WINDOW}",
            input=f"turn {turn} says hello to the window",
            conversation=conversation.id,
            truncation="auto",
            instructions="Be brief.",
        )
        assert answer.status == "completed", (turn, answer.error)
        assert answer.output_text == f"echo: turn {turn} says hello to the window"
    sent = fake.last_request()["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1]["content"] == f"turn {TURNS - 1} says hello to the window"
    assert len(sent) < 200  # what fits, not the whole conversation
    assert _count_items(small, conversation.id) == 2 * TURNS  # nothing lost from storage


@pytest.mark.timeout(400)
def test_two_thousand_turns_keep_answering_with_automatic_compaction(
    small: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = small.conversations.create()
    management = [{"type": "compaction", "compact_threshold": 1_000}]
    compactions = 0
    for turn in range(TURNS):
        answer = small.responses.create(
            model=f"small/fake-window-{COMPACTING_WINDOW}",
            input=f"turn {turn} says hello to the summary",
            conversation=conversation.id,
            context_management=management,  # type: ignore[arg-type]
        )
        assert answer.status == "completed", (turn, answer.error)
        assert answer.output[-1].type == "message"
        compactions += answer.output[0].type == "compaction"
    sent = [m["content"] for m in fake.last_request()["body"]["messages"]]
    assert any(text.startswith(SUMMARY_HEADING) for text in sent)
    assert compactions >= 10
    assert _count_items(small, conversation.id) == 2 * TURNS + compactions
