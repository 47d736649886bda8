"""Build output items from a provider's neutral events, emitting OpenAI's stream events.

Items are opened and closed in output order, as OpenAI streams them: a reasoning item, then
a message, then function calls (one at a time, in call order). Anything still open when the
provider stops is closed with the status the turn ended with.

Calls of server-side tools (names in `server_tools`) are not streamed as function calls: they
are gathered whole and handed to the tool loop (`take_server_calls`), which adds their items
(`mcp_call`, `web_search_call`, …) with `add_item` / `item_event` / `finish_item`. Sources
found by web search become `url_citation` annotations of the messages that cite their URLs.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from threadline import ids
from threadline.engine.responses.citations import file_citations, url_citations
from threadline.engine.responses.events import Event, EventSequencer
from threadline.providers.base import (
    ReasoningDelta,
    ReasoningSealed,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
)
from threadline.storage.base import Item


@dataclass(slots=True)
class ServerCall:
    """A model's call of a server-side tool, gathered whole."""

    call_id: str
    name: str
    arguments_parts: list[str] = field(default_factory=list)

    @property
    def arguments(self) -> str:
        return "".join(self.arguments_parts)


class _OpenItem:
    __slots__ = ("index", "item", "part_type", "parts")

    def __init__(self, index: int, item: Item) -> None:
        self.index = index
        self.item = item
        self.parts: list[str] = []
        """The pieces of the content part being streamed."""
        self.part_type: str | None = None
        """A message's part being streamed: `output_text` or `refusal` (None before the first)."""


class OutputAssembler:
    def __init__(self, events: EventSequencer, server_tools: Container[str] = ()) -> None:
        self._events = events
        self.output: list[Item] = []
        self._open: _OpenItem | None = None
        self._calls: dict[int, _OpenItem] = {}
        self._server_tools = server_tools
        self._server_calls: dict[int, ServerCall] = {}
        self.sources: dict[str, str] = {}
        """URL → title of the web pages found so far (cited URLs become annotations)."""
        self.files: dict[str, str] = {}
        """Filename → file id of the files file search found (named ones become citations)."""

    # -- feeding -------------------------------------------------------------------------------
    def on_reasoning(self, delta: ReasoningDelta) -> list[Event]:
        out: list[Event] = []
        current = self._open
        if current is None or current.item["type"] != "reasoning":
            out += self._close_open("completed")
            current = self._start(
                {
                    "id": ids.new_id(ids.REASONING),
                    "type": "reasoning",
                    "summary": [],
                    "status": "in_progress",
                },
                out,
            )
            current.item["content"] = []
            part = {"type": "reasoning_text", "text": ""}
            out.append(self._part_event("response.content_part.added", current, part, 0))
        current.parts.append(delta.text)
        out.append(
            self._events.event(
                "response.reasoning_text.delta",
                item_id=current.item["id"],
                output_index=current.index,
                content_index=0,
                delta=delta.text,
            )
        )
        return out

    def on_reasoning_sealed(self, sealed: ReasoningSealed) -> list[Event]:
        """The provider's opaque value for the reasoning just streamed (a signature): kept as
        the item's `encrypted_content`, and the item closes. Reasoning sealed without any text
        (redacted by the provider) is an item of its own."""
        current = self._open
        if current is not None and current.item["type"] == "reasoning":
            current.item["encrypted_content"] = sealed.encrypted_content
            return self._close_open("completed")
        index, out = self.add_item(
            {
                "id": ids.new_id(ids.REASONING),
                "type": "reasoning",
                "summary": [],
                "content": [],
                "encrypted_content": sealed.encrypted_content,
                "status": "completed",
            }
        )
        return [*out, self.finish_item(index)]

    def on_text(self, delta: TextDelta) -> list[Event]:
        out: list[Event] = []
        current = self._message_part("output_text", out)
        current.parts.append(delta.text)
        out.append(
            self._events.event(
                "response.output_text.delta",
                item_id=current.item["id"],
                output_index=current.index,
                content_index=len(current.item["content"]),
                delta=delta.text,
                logprobs=[],
            )
        )
        return out

    def on_refusal(self, delta: RefusalDelta) -> list[Event]:
        """The model declined: a `refusal` part of the assistant message, not text."""
        out: list[Event] = []
        current = self._message_part("refusal", out)
        current.parts.append(delta.text)
        out.append(
            self._events.event(
                "response.refusal.delta",
                item_id=current.item["id"],
                output_index=current.index,
                content_index=len(current.item["content"]),
                delta=delta.text,
            )
        )
        return out

    def on_tool_call(self, delta: ToolCallDelta) -> list[Event]:
        out: list[Event] = []
        server_call = self._server_calls.get(delta.index)
        if (
            server_call is None
            and delta.index not in self._calls
            and delta.name is not None
            and delta.name in self._server_tools
        ):
            server_call = ServerCall(delta.call_id or ids.new_id(ids.CALL), delta.name)
            self._server_calls[delta.index] = server_call
        if server_call is not None:
            server_call.arguments_parts.append(delta.arguments)
            return out
        call = self._calls.get(delta.index)
        if call is None:
            out += self._close_open("completed")
            call = self._start(
                {
                    "id": ids.new_id(ids.FUNCTION_CALL),
                    "type": "function_call",
                    "status": "in_progress",
                    "arguments": "",
                    "call_id": delta.call_id or ids.new_id(ids.CALL),
                    "name": delta.name or "",
                },
                out,
            )
            self._calls[delta.index] = call
        if delta.name and not call.item["name"]:
            call.item["name"] = delta.name
        if delta.arguments:
            call.parts.append(delta.arguments)
            # A call that another call interrupted still gathers its arguments; they reach
            # the client in its `function_call_arguments.done` event.
            if call is self._open:
                out.append(
                    self._events.event(
                        "response.function_call_arguments.delta",
                        item_id=call.item["id"],
                        output_index=call.index,
                        delta=delta.arguments,
                    )
                )
        return out

    def finish(self, item_status: str) -> list[Event]:
        """Close every open item (and any call that was interleaved) with `item_status`."""
        out = self._close_open(item_status)
        for call in self._calls.values():
            if call.item["status"] == "in_progress":
                self._open = call
                out += self._close_open(item_status)
        return out

    # -- server-side tools (driven by the tool loop) -------------------------------------------
    def take_server_calls(self) -> list[ServerCall]:
        """The server-tool calls of the model call that just ended, in call order."""
        calls = [self._server_calls[index] for index in sorted(self._server_calls)]
        self._server_calls = {}
        return calls

    def next_model_call(self) -> None:
        """Another model call begins (its items were closed): it numbers its tool calls from 0
        again."""
        self._calls = {}
        self._server_calls = {}

    def add_item(self, item: Item) -> tuple[int, list[Event]]:
        """Add a finished-or-running item at the end of the output (`output_item.added`)."""
        out = self._close_open("completed")
        opened = self._start(item, out)
        self._open = None
        return opened.index, out

    def item_event(self, type_: str, index: int, **fields: Any) -> Event:
        """An event about the item at `index` (`response.mcp_call.in_progress`, …)."""
        return self._events.event(
            type_, item_id=self.output[index]["id"], output_index=index, **fields
        )

    def finish_item(self, index: int) -> Event:
        return self._events.event(
            "response.output_item.done", output_index=index, item=_snapshot(self.output[index])
        )

    # -- internals -----------------------------------------------------------------------------
    def _message_part(self, part_type: str, out: list[Event]) -> _OpenItem:
        """The open assistant message, streaming a part of `part_type` (opening the message,
        or closing a part of the other type and opening a new one, as needed)."""
        current = self._open
        if current is None or current.item["type"] != "message":
            out += self._close_open("completed")
            current = self._start(
                {
                    "id": ids.new_id(ids.MESSAGE),
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
                out,
            )
        if current.part_type != part_type:
            out += self._close_part(current)
            current.part_type = part_type
            empty = _output_text("") if part_type == "output_text" else _refusal("")
            out.append(
                self._part_event(
                    "response.content_part.added", current, empty, len(current.item["content"])
                )
            )
        return current

    def _close_part(self, current: _OpenItem) -> list[Event]:
        """Finish the message part being streamed: its `.done` events, then it joins the
        message's content."""
        kind = current.part_type
        if kind is None:
            return []
        item = current.item
        index = len(item["content"])
        text = "".join(current.parts)
        current.parts, current.part_type = [], None
        out: list[Event] = []
        if kind == "refusal":
            part = _refusal(text)
            out.append(
                self._events.event(
                    "response.refusal.done",
                    item_id=item["id"],
                    output_index=current.index,
                    content_index=index,
                    refusal=text,
                )
            )
        else:
            part = _output_text(text)
            cited = url_citations(text, self.sources) + file_citations(text, self.files)
            for number, annotation in enumerate(cited):
                part["annotations"].append(annotation)
                out.append(
                    self._events.event(
                        "response.output_text.annotation.added",
                        item_id=item["id"],
                        output_index=current.index,
                        content_index=index,
                        annotation_index=number,
                        annotation=annotation,
                    )
                )
            out.append(
                self._events.event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=current.index,
                    content_index=index,
                    text=text,
                    logprobs=[],
                )
            )
        out.append(self._part_event("response.content_part.done", current, part, index))
        item["content"].append(part)
        return out

    def _start(self, item: Item, out: list[Event]) -> _OpenItem:
        opened = _OpenItem(len(self.output), item)
        self.output.append(item)
        self._open = opened
        out.append(
            self._events.event(
                "response.output_item.added", output_index=opened.index, item=_snapshot(item)
            )
        )
        return opened

    def _close_open(self, status: str) -> list[Event]:
        current = self._open
        if current is None:
            return []
        self._open = None
        item = current.item
        text = "".join(current.parts)
        out: list[Event] = []
        kind = item["type"]
        if kind == "message":
            out += self._close_part(current)
        elif kind == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            out.append(
                self._events.event(
                    "response.reasoning_text.done",
                    item_id=item["id"],
                    output_index=current.index,
                    content_index=0,
                    text=text,
                )
            )
            out.append(self._part_event("response.content_part.done", current, part, 0))
            item["content"] = [part]
        elif kind == "function_call":
            item["arguments"] = text
            out.append(
                self._events.event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=current.index,
                    name=item["name"],
                    arguments=text,
                )
            )
        item["status"] = status
        out.append(
            self._events.event(
                "response.output_item.done", output_index=current.index, item=_snapshot(item)
            )
        )
        return out

    def _part_event(
        self, type_: str, current: _OpenItem, part: dict[str, Any], content_index: int
    ) -> Event:
        return self._events.event(
            type_,
            item_id=current.item["id"],
            output_index=current.index,
            content_index=content_index,
            part=dict(part),
        )


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _refusal(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def _snapshot(item: Item) -> Item:
    """Events carry a copy: the item keeps changing after an event is emitted."""
    copy = dict(item)
    if "content" in copy:
        copy["content"] = [dict(part) for part in copy["content"]]
    return copy
