"""One chat at the terminal: a conversation kept in Threadline, turns streamed as they arrive.

The conversation is created with the first message (so an abandoned chat leaves nothing
behind) and every turn runs with `conversation=<id>`, so the whole history lives in Threadline
and `threadline chat --conversation ID` resumes it anywhere. Answers go to stdout; status lines
and errors to stderr, so `echo question | threadline chat > answer.txt` keeps only the answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from threadline.cli.backend import Backend, BackendError, Event
from threadline.cli.transcript import markdown_export, print_transcript

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")
HELP = """\
/new            start a new conversation (with your next message)
/history        show this conversation so far
/export FILE    save the conversation (FILE.md as Markdown, anything else as JSON)
/model NAME     use another model from now on
/quit           leave (also Ctrl-D); Ctrl-C stops an answer"""


class ChatSession:
    def __init__(
        self,
        backend: Backend,
        model: str,
        *,
        out: TextIO,
        status: Console,
        conversation_id: str | None = None,
        show_waiting: bool = False,
    ) -> None:
        self.backend = backend
        self.model = model
        self.conversation_id = conversation_id
        self.failures = 0
        """Turns (and other steps) that failed: a piped chat then exits non-zero."""
        self._out = out
        self._status = status
        self._show_waiting = show_waiting

    def note(self, message: str) -> None:
        self._status.print(f"[dim]{escape(message)}[/dim]", highlight=False, soft_wrap=True)

    def error(self, message: str, hint: str | None = None) -> None:
        self._status.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
        if hint:
            self._status.print(f"[dim]hint: {escape(hint)}[/dim]", highlight=False, soft_wrap=True)

    async def resume(self) -> None:
        """Check that the conversation to resume exists, and say how long it is."""
        if self.conversation_id is None:
            return
        await self.backend.get_conversation(self.conversation_id)
        items = await self.backend.conversation_items(self.conversation_id)
        self.note(f"Resuming {self.conversation_id} ({len(items)} items; /history shows them).")

    async def send(self, text: str) -> bool:
        """Run one turn, printing the answer as it streams. False if the turn failed."""
        if self.conversation_id is None:
            created = await self.backend.create_conversation({"source": "threadline chat"})
            self.conversation_id = str(created["id"])
            self.note(
                f"Conversation {self.conversation_id} (resume: --conversation {created['id']})"
            )
        final: Event | None = None
        wrote = False
        waiting = self._waiting()
        try:
            async for event in self.backend.stream_turn(self.model, text, self.conversation_id):
                kind = event.get("type")
                if kind == "response.output_text.delta":
                    if waiting is not None:
                        waiting.stop()
                        waiting = None
                    self._out.write(event["delta"])
                    self._out.flush()
                    wrote = True
                elif kind in _TERMINAL:
                    final = event["response"]
        finally:
            if waiting is not None:
                waiting.stop()
        if wrote:
            self._out.write("\n")
            self._out.flush()
        ok = self._report(final)
        if not ok:
            self.failures += 1
        return ok

    def _waiting(self) -> Status | None:
        """A spinner on the terminal until the first token (never in piped output)."""
        if not self._show_waiting:
            return None
        waiting = self._status.status(f"[dim]waiting for {escape(self.model)}…[/dim]")
        waiting.start()
        return waiting

    def _report(self, response: Event | None) -> bool:
        if response is None:
            self.error("the answer ended before the server said how it finished")
            return False
        status = response.get("status")
        if status == "failed":
            error = response.get("error") or {}
            self.error(
                f"the model did not answer: {error.get('message', 'unknown error')}",
                hint="`threadline doctor` checks each provider's reachability and credentials",
            )
            return False
        if status == "incomplete":
            reason = (response.get("incomplete_details") or {}).get("reason", "unknown")
            self.note(f"(the answer is incomplete: {reason})")
        calls = [i for i in response.get("output", []) if i.get("type") == "function_call"]
        if calls:
            self.note(f"(the model asked for {len(calls)} tool call(s), which chat cannot run)")
        return True

    async def history(self) -> None:
        if self.conversation_id is None:
            self.note("(no messages yet)")
            return
        items = await self.backend.conversation_items(self.conversation_id)
        console = Console(file=self._out, highlight=False)
        if print_transcript(console, items) == 0:
            self.note("(no messages yet)")

    async def export(self, path: Path) -> None:
        if self.conversation_id is None:
            raise BackendError("nothing to export yet: send a message first")
        export = await self.backend.export_conversation(self.conversation_id)
        if path.suffix.lower() in (".md", ".markdown"):
            text = markdown_export(export)
        else:
            text = json.dumps(export, indent=2, ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        except OSError as exc:
            raise BackendError(f"cannot write {path}: {exc.strerror}") from exc
        self.note(f"Exported {len(export.get('items', []))} items to {path}")

    def new(self) -> None:
        self.conversation_id = None
        self.note("New conversation: it starts with your next message.")
