"""`threadline chat`, driven as a person would: piped lines, and a real pseudo-terminal."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.cli.conftest import MODEL, Cli
from tests.cli.terminal import Terminal
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, free_port

CONVERSATION = re.compile(r"conv_[0-9a-f]+")


def _conversation_id(stderr: str) -> str:
    match = CONVERSATION.search(stderr)
    assert match, f"no conversation id in: {stderr!r}"
    return match.group(0)


def test_piped_chat_streams_each_answer_and_keeps_the_conversation(cli: Cli) -> None:
    done = cli.process(["chat", "-m", MODEL, "--db", str(cli.db)], input="hello there\nand again\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["echo: hello there", "echo: and again"]
    conversation = _conversation_id(done.stderr)
    assert f"threadline chat --conversation {conversation}" in done.stderr

    shown = cli.local("conversations", "show", conversation)
    assert "user: hello there" in shown.stdout
    assert "assistant: echo: and again" in shown.stdout


def test_chat_resumes_a_conversation_with_its_whole_history(cli: Cli) -> None:
    first = cli.local("chat", "-m", MODEL, input="my name is Ada\n")
    conversation = _conversation_id(first.stderr)

    resumed = cli.local("chat", "-m", MODEL, "--conversation", conversation, input="describe\n")
    assert "Resuming" in resumed.stderr and "2 items" in resumed.stderr
    seen = json.loads(resumed.stdout)["messages"]
    assert [(m["role"], m["content"]) for m in seen] == [
        ("user", "my name is Ada"),
        ("assistant", "echo: my name is Ada"),
        ("user", "describe"),
    ]


def test_chat_commands_show_history_export_and_start_anew(cli: Cli, tmp_path: Path) -> None:
    script = "\n".join(
        [
            "/history",
            "first question",
            "/history",
            f"/export {tmp_path / 'chat.md'}",
            f"/export {tmp_path / 'chat.json'}",
            "/model fake-vision",
            "/new",
            "second conversation",
            "/nonsense",
            "/quit",
            "never sent",
        ]
    )
    done = cli.local("chat", "-m", MODEL, input=script + "\n")
    assert done.stdout.splitlines() == [
        "echo: first question",
        "user: first question",
        "assistant: echo: first question",
        "echo: second conversation",
    ]
    assert "(no messages yet)" in done.stderr
    assert "unknown command" in done.stderr
    markdown = (tmp_path / "chat.md").read_text()
    assert "## user\n\n```text\nfirst question" in markdown
    exported = json.loads((tmp_path / "chat.json").read_text())
    assert exported["object"] == "conversation.export" and len(exported["items"]) == 2

    listed = json.loads(cli.local("conversations", "list", "--json").stdout)
    assert len(listed["data"]) == 2  # /new started a second one; "never sent" was not
    assert cli.local("chat", input="/quit\n").stdout == ""


def test_chat_says_when_the_model_cannot_answer_and_goes_on(cli: Cli) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cli.env["OPENAI_BASE_URL"] = dead
    done = cli.local("chat", "-m", MODEL, input="hello\nagain\n", code=1)
    assert done.stderr.count("the model did not answer") == 2
    assert "threadline doctor" in done.stderr


def test_chat_reports_an_upstream_failure_in_words(cli: Cli) -> None:
    done = cli.local("chat", "-m", MODEL, input="fail 500\nok now\n", code=1)
    assert "the model did not answer" in done.stderr and "500" in done.stderr
    assert done.stdout.splitlines() == ["echo: ok now"]


def test_chat_says_when_the_server_is_unreachable(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli("chat", "-m", MODEL, "--base-url", url, input="hello\n", code=1)
    assert f"cannot reach the Threadline server at {url}" in done.stderr
    assert "threadline serve" in done.stderr


def test_chat_refuses_to_resume_a_conversation_that_does_not_exist(cli: Cli) -> None:
    done = cli.local("chat", "--conversation", "conv_nope", input="x\n", code=1)
    assert "conv_nope" in done.stderr and "not found" in done.stderr


def test_piped_chat_against_a_server_keeps_the_conversation_there(
    cli: Cli, server: LiveServer
) -> None:
    done = cli("chat", "-m", MODEL, "--base-url", server.url, input="over http\nsecond turn\n")
    assert done.stdout.splitlines() == ["echo: over http", "echo: second turn"]
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    items = client.conversations.items.list(_conversation_id(done.stderr), order="asc")
    assert [i.content[0].text for i in items] == [
        "over http",
        "echo: over http",
        "second turn",
        "echo: second turn",
    ]


def test_chat_at_a_terminal_prompts_streams_and_resumes(cli: Cli, server: LiveServer) -> None:
    args = [sys.executable, "-m", "threadline", "chat", "-m", MODEL, "--base-url", server.url]
    terminal = Terminal(args, cli.process_env())
    try:
        terminal.expect("/help for commands")
        terminal.expect("you> ")
        terminal.type("hello terminal\r")
        terminal.expect("echo: hello terminal")
        terminal.type("/help\r")
        terminal.expect("/export FILE")
        terminal.type("slow 5\r")
        time.sleep(0.5)  # let the turn start: Ctrl-C then stops the answer, not the chat
        terminal.type("\x03")
        terminal.expect("(stopped)")
        terminal.type("/quit\r")
        screen = terminal.expect("Resume with: threadline chat --conversation")
        assert terminal.close() == 0
    finally:
        terminal.stop()
    conversation = _conversation_id(screen)
    shown = cli("conversations", "show", conversation, "--base-url", server.url)
    assert "user: hello terminal" in shown.stdout


def test_piped_chat_exits_1_when_a_turn_fails_after_answering_the_rest(cli: Cli) -> None:
    done = cli.process(["chat", "-m", MODEL, "--db", str(cli.db)], input="fail 503\nstill here\n")
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["echo: still here"]
    assert "error: the model did not answer" in done.stderr and "503" in done.stderr
    assert "waiting for" not in done.stderr  # no spinner when the output is piped


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeUpstream]:
    """A model that writes one word every 0.4 s."""
    with FakeUpstream(chunk_delay=0.4) as upstream:
        yield upstream


@pytest.mark.parametrize("mode", ["local", "server"])
def test_chat_streams_each_word_as_the_model_writes_it(
    cli: Cli, slow_fake: FakeUpstream, tmp_path: Path, mode: str
) -> None:
    cli.env["OPENAI_BASE_URL"] = slow_fake.base_url
    with contextlib.ExitStack() as stack:
        where = ["--db", str(cli.db)]
        if mode == "server":
            live = stack.enter_context(LiveServer(str(tmp_path / "s.db"), slow_fake.base_url))
            where = ["--base-url", live.url]
        chat = stack.enter_context(
            subprocess.Popen(
                [sys.executable, "-m", "threadline", "chat", "-m", MODEL, *where],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=cli.process_env(),
            )
        )
        assert chat.stdin is not None and chat.stdout is not None
        chat.stdin.write(b"long 6\n")
        chat.stdin.close()
        seen = b""
        first_word_at = None
        while b"w6" not in seen:
            byte = chat.stdout.read(1)
            assert byte, f"the answer ended early: {seen!r}"
            seen += byte
            if first_word_at is None and b"w1" in seen:
                first_word_at = time.monotonic()
        assert first_word_at is not None
        # Five more words at 0.4 s each: printed as they come, not all at once at the end.
        assert time.monotonic() - first_word_at > 1.2
        assert chat.wait(timeout=30) == 0


def test_chat_at_a_terminal_shows_a_spinner_until_the_first_word(cli: Cli) -> None:
    args = [sys.executable, "-m", "threadline", "chat", "-m", MODEL, "--db", str(cli.db)]
    terminal = Terminal(args, cli.process_env())
    try:
        terminal.expect("you> ")
        terminal.type("slow 2\r")
        terminal.expect(f"waiting for {MODEL}")
        terminal.expect("echo: slow 2")
        terminal.type("/quit\r")
        terminal.expect("Resume with")
        assert terminal.close() == 0
    finally:
        terminal.stop()
