"""What the model sees of a context with compaction items: from the last one on, its summary
and what follows; before it, only the user messages since the compaction before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from threadline.engine.responses.compaction import SUMMARY_HEADING, Compactions
from threadline.engine.responses.sealed_reasoning import ReasoningSeals
from threadline.engine.sealing import Sealer
from threadline.errors import InvalidRequest


def user(text: str) -> dict[str, Any]:
    return {"id": f"u-{text}", "type": "message", "role": "user", "content": text}


def said(text: str) -> dict[str, Any]:
    return {"id": f"a-{text}", "type": "message", "role": "assistant", "content": text}


def texts(items: list[dict[str, Any]]) -> list[str]:
    shown = []
    for item in items:
        content = item["content"]
        shown.append(content if isinstance(content, str) else content[0]["text"].split("\n")[-1])
    return shown


def test_the_view_starts_at_the_last_compaction() -> None:
    """…keeping the user messages since the compaction before it."""
    compactions = Compactions.ephemeral()
    first, second = compactions.item("t", "S1"), compactions.item("t", "S2")
    items = [user("u1"), said("a1"), first, user("u2"), said("a2"), user("u3"), second, said("a3")]
    history, rest = compactions.views("t", items[:5], [*items[5:], user("u4")])
    assert texts(history) == ["u2"]
    assert texts(rest) == ["u3", "S2", "a3", "u4"]
    assert rest[1]["content"][0]["text"].startswith(SUMMARY_HEADING)


def test_a_context_without_compaction_is_seen_whole() -> None:
    compactions = Compactions.ephemeral()
    history = [user("u1"), said("a1")]
    assert compactions.views("t", history, [user("u2")]) == (history, [user("u2")])


def test_a_compaction_opens_only_for_its_tenant_and_its_server() -> None:
    mine, other_server = Compactions.ephemeral(), Compactions.ephemeral()
    item = mine.item("alice", "secret")
    with pytest.raises(InvalidRequest):
        mine.check("bob", [item], "input")
    with pytest.raises(InvalidRequest) as refused:
        other_server.check("alice", [user("x"), item], "input")
    assert refused.value.param == "input[1].encrypted_content"
    mine.check("alice", [item], "input")


def test_a_stored_compaction_that_no_longer_opens_is_seen_as_if_absent() -> None:
    """A key retired since (or an item added through the items endpoint that never opened):
    the turn is not refused for its history; the items it summarised are sent instead."""
    retired = Compactions.ephemeral().item("t", "old summary")
    history = [user("u1"), said("a1"), retired, said("a2")]
    seen, rest = Compactions.ephemeral().views("t", history, [user("u2")])
    assert texts(seen) == ["u1", "a1", "a2"] and texts(rest) == ["u2"]


def test_sealed_reasoning_opens_only_for_its_tenant() -> None:
    seals = ReasoningSeals(Sealer([Fernet.generate_key().decode()], Path()))
    item = {"id": "rs_1", "type": "reasoning", "encrypted_content": seals.seal("alice", "sig:x")}
    assert seals.view("alice", [item])[0]["encrypted_content"] == "sig:x"
    assert "encrypted_content" not in seals.view("bob", [item])[0]  # sent without it
    assert item["encrypted_content"].startswith("tl1:")  # the given item is not changed
    with pytest.raises(InvalidRequest):
        seals.check("bob", [item], "input")
    raw = {"id": "rs_2", "type": "reasoning", "encrypted_content": "sig:from-before"}
    assert seals.view("alice", [raw]) == [raw]  # stored before: sent as it is
