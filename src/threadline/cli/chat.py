"""`threadline chat`: an interactive chat at the terminal, kept in Threadline.

Reads one message per line (from a terminal, or piped), runs it as a turn of the conversation,
and streams the answer (on a terminal, a spinner shows until the first token). Lines starting
with `/` are commands (see `chat_session.HELP`). Piped, a turn that fails is reported on
stderr, the chat goes on, and the command exits 1 at the end.
One event loop (`asyncio.Runner`) lives for the whole chat, so the local engine's database
connections and the HTTP client are opened once; Ctrl-C cancels only the running answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from threadline.cli.backend import BackendError
from threadline.cli.chat_session import HELP, ChatSession
from threadline.cli.common import err_console
from threadline.cli.output import FAILED, fail_from
from threadline.cli.target import (
    ApiKeyOption,
    BaseUrlOption,
    LocalConfigOption,
    LocalDbOption,
    Target,
    TenantOption,
)

T = TypeVar("T")
DEFAULT_MODEL = "gpt-4o-mini"


def chat(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            envvar="THREADLINE_MODEL",
            show_envvar=True,
            help="Model to talk to; `provider/model` picks a configured provider.",
        ),
    ] = DEFAULT_MODEL,
    conversation: Annotated[
        str | None,
        typer.Option("--conversation", help="Resume this conversation (conv_…)."),
    ] = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Chat with a model; the conversation is kept in Threadline.

    Type a message and press Enter; the answer streams as it arrives. Commands: /new, /history,
    /export FILE, /model NAME, /quit (or Ctrl-D). Piped input works too: every line is a
    message. Resume later with --conversation ID.
    """
    target = Target(base_url, api_key, tenant, db, config)
    interactive = sys.stdin.isatty()
    with asyncio.Runner() as runner:
        try:
            backend = runner.run(target.open())
        except BackendError as exc:
            fail_from(exc)
        session = ChatSession(
            backend,
            model,
            out=sys.stdout,
            status=err_console,
            conversation_id=conversation,
            show_waiting=sys.stdout.isatty() and err_console.is_terminal,
        )
        try:
            try:
                runner.run(backend.check())
                runner.run(session.resume())
            except BackendError as exc:
                session.conversation_id = None  # nothing to resume: do not suggest it
                fail_from(exc)
            if interactive:
                _enable_line_editing()
                session.note(f"Chatting with {model} on {backend.where}. /help for commands.")
            _loop(runner, session, interactive)
        finally:
            if session.conversation_id:
                session.note(
                    f"Resume with: threadline chat --conversation {session.conversation_id}"
                )
            runner.run(backend.aclose())
        if session.failures and not interactive:
            raise typer.Exit(FAILED)  # a script must see that an answer is missing


def _loop(runner: asyncio.Runner, session: ChatSession, interactive: bool) -> None:
    while True:
        try:
            line = input("you> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            if interactive:
                sys.stdout.write("\n")
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            if not _command(runner, session, text):
                return
            continue
        _attempt(runner, session, session.send(text))


def _command(runner: asyncio.Runner, session: ChatSession, text: str) -> bool:
    """Run a /command; False means leave the chat."""
    name, _, argument = text.partition(" ")
    argument = argument.strip()
    if name in ("/quit", "/exit", "/q"):
        return False
    if name == "/new":
        session.new()
    elif name == "/history":
        _attempt(runner, session, session.history())
    elif name == "/export" and argument:
        _attempt(runner, session, session.export(Path(argument).expanduser()))
    elif name == "/model" and argument:
        session.model = argument
        session.note(f"Model: {argument}")
    elif name == "/help":
        session.note(HELP)
    else:
        session.error(f"unknown command or missing argument: {text}", hint="/help lists them")
    return True


def _attempt(runner: asyncio.Runner, session: ChatSession, action: Coroutine[Any, Any, T]) -> None:
    """Run one step of the chat; a failure is shown and the chat goes on."""
    try:
        runner.run(action)
    except BackendError as exc:
        session.failures += 1
        session.error(exc.message, exc.hint)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        session.note("(stopped)")


def _enable_line_editing() -> None:
    """Arrow keys and history for input(), where the platform has readline."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401, PLC0415
