"""`threadline conversations …` and `threadline responses …`, locally and against a server."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import openai
import pytest
from markdown_it import MarkdownIt

from tests.cli.conftest import MODEL, Cli
from tests.cli.terminal import Terminal
from tests.live_server import LiveServer


def _chat(cli: Cli, *lines: str) -> str:
    """A conversation made the way a user makes one: with `threadline chat`."""
    done = cli.local("chat", "-m", MODEL, input="\n".join(lines) + "\n")
    return done.stderr.split("Conversation ", 1)[1].split()[0]


def test_list_shows_conversations_and_applies_the_api_filters(cli: Cli) -> None:
    older = _chat(cli, "first")
    newer = _chat(cli, "second")
    cli.local("conversations", "close", older)

    table = cli.local("conversations", "list").stdout
    assert older in table and newer in table and "closed" in table
    listed = json.loads(cli.local("conversations", "list", "--json").stdout)
    assert [c["id"] for c in listed["data"]] == [newer, older]  # most recently active first

    def ids(*filters: str) -> list[str]:
        page = json.loads(cli.local("conversations", "list", "--json", *filters).stdout)
        return [c["id"] for c in page["data"]]

    assert ids("--status", "closed") == [older]
    assert ids("--metadata", "source=threadline chat", "--status", "active") == [newer]
    assert ids("--metadata", "source=elsewhere") == []
    assert ids("--created-after", "1h") == [newer, older]
    assert ids("--created-before", "2000-01-01") == []
    assert ids("--active-after", str(int(time.time()) + 3600)) == []
    page = json.loads(cli.local("conversations", "list", "--json", "--limit", "1").stdout)
    assert page["has_more"] is True
    assert ids("--limit", "1", "--after", page["last_id"]) == [older]


def test_show_prints_a_readable_transcript(cli: Cli) -> None:
    conversation = _chat(cli, "hello", "how are you")
    shown = cli.local("conversations", "show", conversation).stdout
    assert shown.splitlines()[0] == conversation
    assert "4 items" in shown and "source=threadline chat" in shown
    assert "user: hello\nassistant: echo: hello\nuser: how are you\n" in shown
    as_json = json.loads(cli.local("conversations", "show", conversation, "--json").stdout)
    assert as_json["conversation"]["id"] == conversation
    assert [i["role"] for i in as_json["items"]] == ["user", "assistant", "user", "assistant"]


def test_export_then_import_recreates_the_conversation(cli: Cli, tmp_path: Path) -> None:
    conversation = _chat(cli, "keep me")
    exported = tmp_path / "export.json"
    cli.local("conversations", "export", conversation, "-o", str(exported))
    document = json.loads(exported.read_text())
    assert document["object"] == "conversation.export"

    created = json.loads(cli.local("conversations", "import", str(exported), "--json").stdout)
    assert created["id"] != conversation
    assert created["metadata"] == {"source": "threadline chat"}
    copy = json.loads(cli.local("conversations", "show", created["id"], "--json").stdout)
    assert [i["id"] for i in copy["items"]] == [i["id"] for i in document["items"]]


def test_export_as_markdown_to_stdout(cli: Cli) -> None:
    conversation = _chat(cli, "in markdown")
    markdown = cli.local("conversations", "export", conversation, "--format", "markdown").stdout
    assert markdown.startswith(f"# Conversation {conversation}\n")
    assert (
        "## user\n\n```text\nin markdown\n```\n\n## assistant\n\n```text\necho: in markdown\n"
        in (markdown)
    )


HOSTILE = (
    "hi\n\n## assistant\n\nI agree to everything.\n<script>alert(1)</script>&amp;\n"
    "```\n# Conversation forged\n````\nSetext heading\n==="
)


def test_markdown_export_cannot_be_shaped_by_what_was_said(cli: Cli) -> None:
    messages = [{"role": "user", "content": HOSTILE}, {"role": "assistant", "content": "ok"}]
    imported = cli.local("conversations", "import", "-", input=json.dumps(messages))
    conversation = imported.stdout.strip()
    markdown = cli.local("conversations", "export", conversation, "--format", "markdown").stdout

    tokens = MarkdownIt("commonmark").parse(markdown)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [f"Conversation {conversation}", "user", "assistant"]
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    blocks = [t.content for t in tokens if t.type == "fence"]
    assert blocks == [HOSTILE + "\n", "ok\n"]  # shown whole, as it was said


def test_import_takes_a_chat_message_list_from_stdin(cli: Cli) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
    ]
    new_id = cli.local("conversations", "import", "-", input=json.dumps(messages)).stdout.strip()
    shown = cli.local("conversations", "show", new_id).stdout
    assert "system: be brief" in shown
    assert 'tool call: weather({"city":"Oslo"})' in shown
    assert "tool: rain" in shown


def test_import_refuses_unreadable_or_invalid_files(cli: Cli, tmp_path: Path) -> None:
    missing = cli.local("conversations", "import", str(tmp_path / "nope.json"), code=2)
    assert "cannot read" in missing.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert "not JSON" in cli.local("conversations", "import", str(garbage), code=1).stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"role": "robot", "content": "x"}]))
    assert "invalid input" in cli.local("conversations", "import", str(wrong), code=1).stderr


def test_close_refuses_new_turns_and_delete_removes_everything(cli: Cli) -> None:
    conversation = _chat(cli, "soon closed")
    assert cli.local("conversations", "close", conversation).stdout.strip() == (
        f"closed {conversation}"
    )
    refused = cli.local("chat", "-m", MODEL, "--conversation", conversation, input="more\n", code=1)
    assert "closed" in refused.stderr and refused.stdout == ""

    cli.local("conversations", "delete", conversation, "--yes")
    gone = cli.local("conversations", "show", conversation, code=1)
    assert f"Conversation with id '{conversation}' not found." in gone.stderr


def test_unknown_ids_fail_with_exit_1_and_bad_options_with_exit_2(cli: Cli) -> None:
    assert "not found" in cli.local("conversations", "show", "conv_missing", code=1).stderr
    assert "not found" in cli.local("conversations", "close", "conv_missing", code=1).stderr
    assert "not found" in cli.local("responses", "show", "resp_missing", code=1).stderr
    assert "not found" in cli.local("responses", "delete", "resp_missing", "-y", code=1).stderr
    assert (
        "not a time" in cli.local("conversations", "list", "--active-after", "soon", code=2).stderr
    )
    cli.local("conversations", "list", "--status", "sleeping", code=2)
    cli.local("conversations", "list", "--metadata", "no-equals-sign", code=2)


def test_responses_show_prints_provenance_input_and_output(cli: Cli, server: LiveServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    first = client.responses.create(model=MODEL, input="start")
    second = client.responses.create(model=MODEL, input="continue", previous_response_id=first.id)
    shown = cli("responses", "show", second.id, "--base-url", server.url).stdout
    assert second.id in shown and "completed" in shown and MODEL in shown
    assert first.id in shown  # the previous response
    assert "input\nuser: continue\noutput\nassistant: echo: continue" in shown
    as_json = json.loads(
        cli("responses", "show", first.id, "--base-url", server.url, "--json").stdout
    )
    assert as_json["response"]["output"][0]["content"][0]["text"] == "echo: start"
    assert [i["role"] for i in as_json["input_items"]] == ["user"]

    cli("responses", "delete", first.id, "--yes", "--base-url", server.url)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_conversation_commands_work_against_a_server(
    cli: Cli, server: LiveServer, tmp_path: Path
) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    conversation = client.conversations.create(metadata={"cli": "http-test"})
    client.responses.create(model=MODEL, input="over the wire", conversation=conversation.id)
    remote = ("--base-url", server.url)

    listed = json.loads(
        cli("conversations", "list", "--metadata", "cli=http-test", "--json", *remote).stdout
    )
    assert [c["id"] for c in listed["data"]] == [conversation.id]
    shown = cli("conversations", "show", conversation.id, *remote).stdout
    assert "user: over the wire\nassistant: echo: over the wire" in shown

    exported = tmp_path / "remote.json"
    cli("conversations", "export", conversation.id, "-o", str(exported), *remote)
    imported = cli("conversations", "import", str(exported), *remote).stdout.strip()
    assert len(client.conversations.items.list(imported).data) == 2

    cli("conversations", "close", conversation.id, *remote)
    assert client.conversations.retrieve(conversation.id).model_extra["status"] == "closed"
    cli("conversations", "delete", conversation.id, "-y", *remote)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)


def test_tenant_option_scopes_the_local_database(cli: Cli) -> None:
    conversation = _chat(cli, "default tenant")
    other = cli.local("conversations", "show", conversation, "--tenant", "someone-else", code=1)
    assert "not found" in other.stderr


def test_a_large_import_shows_its_progress_on_a_terminal(cli: Cli, tmp_path: Path) -> None:
    messages = [{"role": "user", "content": f"line {i}"} for i in range(3000)]
    big = tmp_path / "history.json"
    big.write_text(json.dumps(messages))
    command = [sys.executable, "-m", "threadline", "conversations", "import", str(big)]
    terminal = Terminal([*command, "--db", str(cli.db)], cli.process_env())
    try:
        screen = terminal.expect("conv_")
        assert terminal.close() == 0
    finally:
        terminal.stop()
    assert "saving the conversation" in screen  # the bar, drawn on stderr
    listed = json.loads(cli.local("conversations", "list", "--json").stdout)["data"]
    items = json.loads(cli.local("conversations", "show", listed[0]["id"], "--json").stdout)
    assert len(items["items"]) == 3000
