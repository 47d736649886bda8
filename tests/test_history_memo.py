"""What the passes over a long history find is carried on from the last turn's (prefix_memo.py):
its Chat Completions messages (chat_messages.py) and the kinds of item it holds
(engine/responses/context_kinds.py). Whatever the items, and wherever a turn splits them, the
result is the one a pass over the whole list gives, and what a memo keeps is never changed by a
later turn. (The files a history names: tests/tools/test_files.py, over a live server.)"""

from __future__ import annotations

import copy
import itertools

import orjson
import pytest

from threadline.engine.responses.context_kinds import ContextKinds
from threadline.prefix_memo import BRANCHES, PrefixMemo
from threadline.providers.anthropic import AnthropicProvider
from threadline.providers.anthropic_messages import (
    THINKING_PREFIX,
    KeptConversion,
    anthropic_messages,
)
from threadline.providers.base import Item, ProviderRequest
from threadline.providers.chat_messages import KeptMessages, chat_messages
from threadline.providers.openai_responses import (
    SEALED_PREFIX,
    upstream_input,
    upstream_input_json,
)


def user(text: str) -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> Item:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


def call(call_id: str) -> Item:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def output(call_id: str, *, image: bool = False) -> Item:
    if not image:
        return {"type": "function_call_output", "call_id": call_id, "output": "ok"}
    parts = [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
    ]
    return {"type": "function_call_output", "call_id": call_id, "output": parts}


def reasoning(text: str) -> Item:
    return {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


HISTORY: list[Item] = [
    user("one"),
    reasoning("thinking"),
    assistant("answer"),
    call("c1"),
    reasoning("more"),
    call("c2"),
    output("c1", image=True),
    output("c2"),
    assistant("done"),
    user("two"),
    assistant("plain"),
    reasoning("before a call"),
    call("c3"),
    output("c3"),
    user("three"),
]


@pytest.mark.parametrize("send_reasoning", [False, True])
def test_every_split_of_a_history_gives_the_messages_of_the_whole(send_reasoning: bool) -> None:
    whole = chat_messages("be brief", HISTORY, send_reasoning=send_reasoning).as_list()
    for first, second in itertools.combinations(range(1, len(HISTORY) + 1), 2):
        for history_items in (first, None):  # kept at the history's end, or at the list's
            memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
            for end in (first, second):
                chat_messages(
                    "be brief",
                    HISTORY[:end],
                    send_reasoning=send_reasoning,
                    memo=memo,
                    history_items=history_items,
                )
            again = chat_messages(
                "be brief", HISTORY, send_reasoning=send_reasoning, memo=memo, history_items=second
            )
            assert again.as_list() == whole
            # What is sent: the kept JSON of the history carried on, byte for byte the whole's.
            assert again.json() == orjson.dumps(whole)


def test_every_split_of_a_history_gives_the_responses_input_of_the_whole() -> None:
    sealed = {"type": "reasoning", "summary": [], "encrypted_content": f"{SEALED_PREFIX}rs_1:x"}
    history = [*HISTORY[:3], sealed, *HISTORY[3:]]
    whole = orjson.dumps(upstream_input(history))
    assert upstream_input_json(history) == whole and b'"rs_1"' in whole
    for first, second in itertools.combinations(range(1, len(history) + 1), 2):
        for history_items in (first, None):
            memo: PrefixMemo[bytes] = PrefixMemo(min_items=1)
            for end in (first, second):
                upstream_input_json(history[:end], memo, history_items)
            assert upstream_input_json(history, memo, second) == whole
            kept = memo.find(None, history)
            assert kept is not None and len(kept.items) == second
            assert kept.result == orjson.dumps(upstream_input(history[:second]))[1:-1]


def test_every_split_of_a_history_gives_the_anthropic_messages_of_the_whole() -> None:
    thinking = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "weighing it"}],
        "encrypted_content": f"{THINKING_PREFIX}sig",
    }
    developer = {"type": "message", "role": "developer", "content": "answer in French"}
    history = [*HISTORY[:2], thinking, *HISTORY[2:9], developer, *HISTORY[9:]]
    whole = anthropic_messages("be brief", history)
    assert len(whole.system) == 2 and any(
        b["type"] == "thinking" for b in whole.messages[1]["content"]
    )
    for first, second in itertools.combinations(range(1, len(history) + 1), 2):
        for history_items in (first, None):
            memo: PrefixMemo[KeptConversion] = PrefixMemo(min_items=1)
            for end in (first, second):
                anthropic_messages(
                    "be brief", history[:end], memo=memo, history_items=history_items
                )
            again = anthropic_messages("be brief", history, memo=memo, history_items=second)
            assert (again.system, again.messages) == (whole.system, whole.messages)
            assert again.messages_json() == orjson.dumps(whole.messages)


def test_anthropic_cache_breakpoints_mark_copies_not_what_a_memo_keeps() -> None:
    claude = AnthropicProvider("claude", "http://127.0.0.1:9")
    history = [user(str(n)) if n % 2 == 0 else assistant(str(n)) for n in range(80)]
    # The middle turn has no input of its own: its breakpoint is on the history's last block.
    for turn, new in enumerate(([user("turn 0")], [], [user("turn 2")])):
        request = ProviderRequest(
            model="m", items=[*history, *new], instructions="be brief", history_items=len(history)
        )
        body = orjson.loads(orjson.dumps(claude.messages_body(request)))
        marked = [b["text"] for m in body["messages"] for b in m["content"] if "cache_control" in b]
        assert marked == [f"turn {turn}" if new else "answer 0"]
        assert [b for b in body["system"] if "cache_control" in b] == body["system"]
        history = [*history, *new, assistant(f"answer {turn}")]


def test_a_fork_of_a_turn_carries_on_from_the_history_it_shares() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    history = [user("one"), assistant("answer")]
    for question in ("two", "two, asked again", "something else"):
        items = [*history, user(question)]
        sent = chat_messages(None, items, memo=memo, history_items=len(history)).as_list()
        assert sent == chat_messages(None, items).as_list()
        kept = memo.find(False, items)
        assert kept is not None and len(kept.items) == len(history)


def test_what_a_memo_keeps_is_not_changed_by_the_turns_that_carry_it_on() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    opening = [user("one"), assistant("answer")]
    chat_messages(None, opening, memo=memo)
    kept = memo.find(False, opening)
    assert kept is not None
    before = copy.deepcopy(kept.result)
    # The next turn's tool call joins the assistant message the memo ended on.
    sent = chat_messages(None, [*opening, call("c1"), output("c1")], memo=memo).as_list()
    assert sent[1]["tool_calls"][0]["id"] == "c1"
    sent[1]["content"] = "changed by a caller"
    assert kept.result == before
    assert (
        chat_messages(None, list(opening), memo=memo).as_list()
        == chat_messages(None, opening).as_list()
    )


def test_a_list_that_differs_anywhere_in_the_kept_items_is_converted_whole() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    items = [user("one"), assistant("answer"), user("two")]
    chat_messages(None, items, memo=memo)
    edited = [items[0], assistant("another answer"), user("two"), user("three")]
    assert chat_messages(None, edited, memo=memo).as_list() == chat_messages(None, edited).as_list()
    # Equal items that are other objects (a history read again from the database) match.
    reread = orjson.loads(orjson.dumps(edited))
    assert memo.find(False, [edited[0], *reread[1:]]) is not None


def test_a_memo_keeps_no_more_than_its_bound_and_drops_the_least_recently_used() -> None:
    size = len(orjson.dumps(user("x" * 100)))
    memo: PrefixMemo[int] = PrefixMemo(max_bytes=3 * size, min_items=1)
    lists = [[user("x" * 100)] for _ in range(4)]
    for n, items in enumerate(lists[:3]):
        memo.keep("f", items, n)
    assert memo.find("f", lists[0]) is not None  # now the most recently used
    memo.keep("f", lists[3], 3)
    assert memo.size == 3 * size
    assert memo.find("f", lists[1]) is None
    assert [memo.find("f", items) is not None for items in (lists[0], lists[2], lists[3])] == [
        True,
        True,
        True,
    ]
    too_big = [user("x" * 100) for _ in range(4)]
    memo.keep("f", too_big, 4)
    assert memo.find("f", too_big) is None


def test_a_memo_sized_zero_keeps_nothing() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(max_bytes=0, min_items=1)
    items = [user("one")]
    chat_messages(None, items, memo=memo)
    assert memo.find(False, items) is None and memo.size == 0


def test_flavours_are_kept_apart() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    items = [user("one"), reasoning("why"), assistant("answer")]
    chat_messages(None, items, send_reasoning=True, memo=memo)
    assert memo.find(False, items) is None
    without = chat_messages(None, [*items, user("two")], memo=memo).as_list()
    assert "reasoning_content" not in without[1]


def json_size(items: list[Item]) -> int:
    """What a memo counts for a list: its items' JSON, without brackets and commas."""
    return len(orjson.dumps(items)) - 1 - len(items)


def test_forks_are_kept_as_branches_and_a_continuation_replaces_its_own() -> None:
    memo: PrefixMemo[int] = PrefixMemo(min_items=1)
    history = [user(str(n)) for n in range(50)]
    first, second = [*history, user("first fork")], [*history, user("second fork, longer")]
    memo.keep("f", first, 1)
    memo.keep("f", second, 2)
    assert memo.size == json_size(first) + json_size(second)
    for fork, result in ((first, 1), (second, 2)):
        kept = memo.find("f", [*fork, user("next")])
        assert kept is not None and kept.result == result
    continued = [*second, user("next")]
    memo.keep("f", continued, 3, memo.find("f", continued))
    assert memo.size == json_size(first) + json_size(continued)
    assert memo.find("f", [*second, user("other")]) is None  # replaced by its continuation
    # Past BRANCHES, the least recently used branch of the history goes.
    others = [[*history[:10], user(f"other {n}")] for n in range(BRANCHES - 1)]
    for n, other in enumerate(others):
        memo.keep("f", other, 10 + n)
    assert memo.find("f", first) is None
    assert memo.size == json_size(continued) + sum(json_size(other) for other in others)


def test_alternating_branches_of_a_long_history_each_carry_on_from_their_own() -> None:
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    trunk = [user("0"), assistant("a0")]
    branches = {"x": [*trunk], "y": [*trunk]}
    for turn in range(1, 6):
        for name, history in branches.items():
            items = [*history, user(f"{name}{turn}")]
            kept = memo.find(False, items)
            if turn > 2:  # what its own last turn kept (its history), not the other branch's
                assert kept is not None and kept.items == history[:-2]
            sent = chat_messages(None, items, memo=memo, history_items=len(history)).as_list()
            assert sent == chat_messages(None, items).as_list()
            branches[name] = [*items, assistant(f"{name}{turn} answer")]


def test_the_kinds_of_every_split_of_a_history_are_those_of_the_whole() -> None:
    history = [*HISTORY, {"type": "compaction", "encrypted_content": "x"}, user("after")]
    whole = ContextKinds(min_items=1).of(history, [])
    assert whole.types == {"reasoning", "function_call", "function_call_output", "compaction"}
    assert [history[i]["type"] for i in whole.calls] == [
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "function_call",
        "function_call_output",
    ]
    for end in range(1, len(history)):
        kinds = ContextKinds(min_items=1)
        assert kinds.of(history[:end], history[end:]) == whole
        for split in (end, len(history)):  # the next turn, or a fork of this one
            assert kinds.of(history[:split], history[split:]) == whole


def test_short_lists_are_not_kept() -> None:
    memo: PrefixMemo[int] = PrefixMemo(min_items=3)
    short, long = [user("1"), user("2")], [user("1"), user("2"), user("3")]
    memo.keep("f", short, 1)
    memo.keep("f", long, 2)
    assert memo.find("f", short) is None and memo.size == len(orjson.dumps(long)) - 1 - 3
    found = memo.find("f", [*long, user("4")])
    assert found is not None and found.result == 2


def test_the_json_a_memo_keeps_of_a_history_counts_against_its_bound() -> None:
    items = [user(str(n)) for n in range(5)]
    memo: PrefixMemo[KeptMessages] = PrefixMemo(min_items=1)
    chat_messages(None, items, memo=memo)
    kept = memo.find(False, items)
    # All but the last message: a later tool call or reasoning may still join that one.
    settled = orjson.dumps(chat_messages(None, items[:4]).as_list())[1:-1]
    assert kept is not None and kept.result.settled.run == settled
    assert memo.size == len(orjson.dumps(items)) - 1 - len(items) + len(settled)
    tight: PrefixMemo[KeptMessages] = PrefixMemo(max_bytes=memo.size - 1, min_items=1)
    chat_messages(None, items, memo=tight)
    assert tight.find(False, items) is None and tight.size == 0
