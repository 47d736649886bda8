"""Translate OpenAI Responses items into Chat Completions messages.

Chat Completions has no items, only messages: an assistant's text and the function calls it
made in the same turn become one assistant message with `tool_calls`; a function call's
output becomes a `tool` message. `developer` becomes `system`, which every compatible server
understands (OpenAI treats them alike for chat models).

A `tool` message holds text only: the images and files of a function call's output go in a
`user` message of their own, after the tool messages of that assistant turn (a message between
a call and its answer is refused by strict servers).

Reasoning items have no standard Chat Completions form. With `send_reasoning`, the reasoning that
led to an assistant message or tool call becomes that message's `reasoning_content` (the field
DeepSeek, vLLM and others read back); without it, or when no assistant output follows it, it is
left out.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from threadline import json_runs
from threadline.prefix_memo import PrefixMemo
from threadline.providers.base import Item

Message = dict[str, Any]

_TEXT_PARTS = frozenset({"input_text", "output_text"})
_TEXT_MEDIA_PREFIXES = ("text/", "application/json", "application/xml", "application/x-yaml")


def chat_messages(
    instructions: str | None,
    items: list[Item],
    *,
    send_reasoning: bool = False,
    memo: PrefixMemo[KeptMessages] | None = None,
    history_items: int | None = None,
) -> ChatMessages:
    """The messages of `items`. With a `memo`, a list that starts with the items of an earlier
    call is converted from where that call left off (a long history is converted once, not on
    every turn: the conversion is a pure function of the items and `send_reasoning`), and its
    JSON is carried on too. What is kept is the conversion of the first `history_items` items,
    the history the next turn continues (or a fork of this one), else of them all."""
    conversion = _Conversion(send_reasoning)
    kept = None if memo is None else memo.find(send_reasoning, items)
    start = 0 if kept is None else len(kept.items)
    settled = json_runs.EncodedPrefix()
    if kept is not None:
        conversion.resume(kept.result.messages)
        settled = kept.result.settled
    checkpoint = len(items) if history_items is None else history_items
    if memo is not None and start <= checkpoint <= len(items):
        conversion.add(items, start, checkpoint)
        if conversion.settled:
            snapshot = conversion.snapshot()
            settled = settled.extended(snapshot, len(snapshot) - 1)  # the last can change
            memo.keep(
                send_reasoning,
                items[:checkpoint],
                KeptMessages(snapshot, settled),
                kept,
                result_bytes=len(settled.run),
            )
        start = checkpoint
    conversion.add(items, start, len(items))
    system = {"role": "system", "content": instructions} if instructions else None
    return ChatMessages(system, conversion.finish(), settled)


@dataclass(frozen=True, slots=True)
class KeptMessages:
    """What a memo keeps for a history: its messages and the JSON of those settled."""

    messages: tuple[Message, ...]
    settled: json_runs.EncodedPrefix


@dataclass(frozen=True, slots=True)
class ChatMessages:
    """A request's messages: the system message of its instructions, then those of its items,
    the first of which may already be JSON (carried on from the history the memo kept)."""

    system: Message | None
    messages: list[Message]
    settled: json_runs.EncodedPrefix

    def as_list(self) -> list[Message]:
        return [self.system, *self.messages] if self.system else self.messages

    def json(self) -> bytes:
        """The JSON array of `as_list()`: at a long history's turn, the kept JSON of its
        messages and the few new ones. (Encoding thousands of small dicts spread over the heap
        cost 0.2 ms at 4,000 messages, up to 0.8 ms on a busy machine; the kept bytes are
        copied in microseconds.)"""
        system = json_runs.run_of([self.system] if self.system else [])
        return json_runs.array(system, self.settled.rest(self.messages))


class _Conversion:
    """Items in, messages out; its state after an item is what a memo keeps (only where
    nothing waits for a later item)."""

    def __init__(self, send_reasoning: bool) -> None:
        self._send_reasoning = send_reasoning
        self._messages: list[Message] = []
        self._reasoning: list[str] = []
        """Reasoning text waiting for the assistant output it led to."""
        self._attachments: list[Message] = []
        """Images and files of tool outputs, sent once this turn's tool messages are all out."""

    @property
    def settled(self) -> bool:
        return not self._reasoning and not self._attachments

    def snapshot(self) -> tuple[Message, ...]:
        """The messages so far. Only the last one can change with later items (tool calls and
        reasoning join the assistant message before them), so it is kept as a copy."""
        messages = self._messages
        return (*messages[:-1], _own_copy(messages[-1])) if messages else ()

    def resume(self, snapshot: tuple[Message, ...]) -> None:
        self._messages = list(snapshot)
        if snapshot:
            self._messages[-1] = _own_copy(snapshot[-1])

    def add(self, items: list[Item], start: int, end: int) -> None:
        """Convert `items[start:end]` (one loop, with its state in locals: this runs over a
        whole history when nothing was kept for it)."""
        messages, reasoning, attachments = self._messages, self._reasoning, self._attachments
        send_reasoning = self._send_reasoning
        for index in range(start, end):
            item = items[index]
            kind = item.get("type", "message")
            if kind == "reasoning":
                if send_reasoning and (text := _reasoning_text(item)):
                    reasoning.append(text)
                continue
            if kind != "function_call_output" and attachments:
                messages.extend(attachments)
                attachments.clear()
            if kind == "message":
                _add_message(messages, item)
            elif kind == "function_call":
                _add_tool_call(messages, item)
            elif kind == "function_call_output":
                _add_tool_output(messages, attachments, item)
            if reasoning:
                if kind in ("message", "function_call") and messages[-1]["role"] == "assistant":
                    _add_reasoning(messages[-1], reasoning)
                reasoning.clear()

    def finish(self) -> list[Message]:
        return [*self._messages, *self._attachments]


def _own_copy(message: Message) -> Message:
    """A copy of `message` that a later item can change without changing `message`."""
    copy = dict(message)
    if "tool_calls" in copy:
        copy["tool_calls"] = list(copy["tool_calls"])
    return copy


def _reasoning_text(item: Item) -> str:
    """The reasoning text itself, or else its summary (encrypted reasoning has neither)."""
    parts = item.get("content") or ()
    text = "".join(p.get("text", "") for p in parts if p.get("type") == "reasoning_text")
    if text:
        return text
    return "\n\n".join(p.get("text", "") for p in item.get("summary") or ())


def _add_reasoning(message: Message, reasoning: list[str]) -> None:
    earlier = message.get("reasoning_content")
    message["reasoning_content"] = "\n\n".join([earlier, *reasoning] if earlier else reasoning)


def _add_message(messages: list[Message], item: Item) -> None:
    role = item["role"]
    content = item["content"]
    if role == "assistant":
        text = content if isinstance(content, str) else _assistant_text(content)
        messages.append({"role": "assistant", "content": text})
        return
    chat_role = "system" if role == "developer" else role
    if not isinstance(content, list):
        messages.append({"role": chat_role, "content": content})
    elif len(content) == 1 and content[0]["type"] in _TEXT_PARTS:
        messages.append({"role": chat_role, "content": content[0]["text"]})  # nearly every one
    elif all(part["type"] in _TEXT_PARTS for part in content):
        # Plain strings reach every compatible server; some reject content arrays. (Checked on
        # the items first: this is every item of a long text history, on every turn.)
        messages.append({"role": chat_role, "content": "".join(p["text"] for p in content)})
    else:
        parts = [_content_part(part) for part in content]
        if all(part["type"] == "text" for part in parts):
            messages.append({"role": chat_role, "content": "".join(p["text"] for p in parts)})
        else:
            messages.append({"role": chat_role, "content": parts})


def _add_tool_call(messages: list[Message], item: Item) -> None:
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"]},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if last.get("content") == "":
            last["content"] = None
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _assistant_text(parts: list[dict[str, Any]]) -> str:
    if len(parts) == 1 and parts[0]["type"] == "output_text":
        return str(parts[0].get("text", ""))  # nearly every assistant message
    return "".join(
        part.get("text", "")
        if part["type"] in ("output_text", "input_text")
        else part.get("refusal", "")
        for part in parts
    )


def _content_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        return _file_part(part)
    raise ValueError(f"content part type {kind!r} has no Chat Completions form")


def _file_part(part: dict[str, Any]) -> dict[str, Any]:
    """Text-like files are inlined as text, so that any model can read them; other files
    (PDF) go as Chat Completions `file` parts, which OpenAI's models read natively."""
    data_url: str = part["file_data"]
    filename = part.get("filename") or "file"
    media_type, _, payload = _split_data_url(data_url)
    if media_type.startswith(_TEXT_MEDIA_PREFIXES) or filename.endswith(
        (".txt", ".md", ".csv", ".json")
    ):
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = None
        if text is not None:
            return {"type": "text", "text": f'<file name="{filename}">\n{text}\n</file>'}
    return {"type": "file", "file": {"filename": filename, "file_data": data_url}}


def _split_data_url(value: str) -> tuple[str, str, str]:
    """(media type, encoding, payload) of a data URL; a bare base64 string has no type."""
    if value.startswith("data:") and "," in value:
        header, payload = value[5:].split(",", 1)
        media_type, _, encoding = header.partition(";")
        return media_type.lower(), encoding, payload
    return "", "base64", value


def _add_tool_output(messages: list[Message], attachments: list[Message], item: Item) -> None:
    output = item["output"]
    call_id = item["call_id"]
    if isinstance(output, str):
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        return
    text = "".join(part.get("text", "") for part in output if part["type"] == "input_text")
    others = [_content_part(part) for part in output if part["type"] != "input_text"]
    # A text-like file resolves to a text part: it can stay in the tool message.
    text += "".join(part["text"] for part in others if part["type"] == "text")
    media = [part for part in others if part["type"] != "text"]
    if media:
        note = f"The output of tool call {call_id} includes {len(media)} image(s) or file(s)"
        text = "\n".join(filter(None, [text, f"[{note}: they follow in the next message.]"]))
        attachments.append(
            {"role": "user", "content": [{"type": "text", "text": f"{note}:"}, *media]}
        )
    messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
