"""Translate OpenAI Responses items into Anthropic Messages `system` and `messages`.

Anthropic has one system prompt and messages that alternate `user` and `assistant`, each a list
of content blocks:

- `instructions`, and `system`/`developer` messages wherever they stand, join the system prompt
  (in order; Anthropic has no system message mid-conversation).
- A user message's parts become `text`, `image` and `document` blocks (PDFs as base64
  documents, text files as text documents).
- An assistant message becomes `text` blocks (a refusal is its text); a `function_call`
  becomes a `tool_use` block of the assistant message it follows, and its
  `function_call_output` a `tool_result` block at the head of the next user message, as
  Anthropic requires.
- Reasoning that Anthropic produced (a `thinking` block, kept in the reasoning item's
  `encrypted_content` with its signature) goes back as that `thinking` or `redacted_thinking`
  block, first in its assistant message; other reasoning has no signature Anthropic would
  accept, and is left out.

Consecutive items of one role merge into one message, since roles must alternate.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from threadline import json_runs
from threadline.prefix_memo import PrefixMemo
from threadline.providers.base import Item

Block = dict[str, Any]
Message = dict[str, Any]

THINKING_PREFIX = "anthropic.thinking:"
"""`encrypted_content` of a reasoning item that holds an Anthropic thinking block's signature."""
REDACTED_PREFIX = "anthropic.redacted:"
"""`encrypted_content` of a reasoning item that holds a `redacted_thinking` block's data."""

_TEXT_MEDIA_PREFIXES = ("text/", "application/json", "application/xml", "application/x-yaml")
_TOOL_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def anthropic_messages(
    instructions: str | None,
    items: list[Item],
    *,
    memo: PrefixMemo[KeptConversion] | None = None,
    history_items: int | None = None,
) -> AnthropicMessages:
    """The system blocks and messages of `items`. With a `memo`, a list that starts with the
    items of an earlier call is converted from where that call left off, and the JSON of its
    messages is carried on (the conversion is a pure function of the items); what is kept is
    the conversion of the first `history_items` items (the history the next turn continues,
    or a fork of this one), else of them all."""
    conversion = _Conversion()
    kept = None if memo is None else memo.find(None, items)
    start = 0 if kept is None else len(kept.items)
    settled = json_runs.EncodedPrefix()
    if kept is not None:
        conversion.resume(kept.result)
        settled = kept.result.settled
    checkpoint = len(items) if history_items is None else history_items
    if memo is not None and start <= checkpoint <= len(items):
        conversion.add(items, start, checkpoint)
        messages = conversion.messages
        # All but the last message: later items may still join it.
        settled = settled.extended(messages, len(messages) - 1)
        result = KeptConversion(tuple(conversion.system), _snapshot(messages), settled)
        memo.keep(None, items[:checkpoint], result, kept, result_bytes=len(settled.run))
        start = checkpoint
    conversion.add(items, start, len(items))
    system = [{"type": "text", "text": instructions}] if instructions else []
    return AnthropicMessages([*system, *conversion.system], conversion.messages, settled)


@dataclass(frozen=True, slots=True)
class KeptConversion:
    """What a memo keeps for a history: its system blocks and messages (never changed: the
    conversion that carries them on copies the last message, the only one a later item can
    join), and the JSON of its settled messages."""

    system: tuple[Block, ...]
    messages: tuple[Message, ...]
    settled: json_runs.EncodedPrefix


@dataclass(slots=True)
class AnthropicMessages:
    """A request's system blocks and messages, the first of which may already be JSON
    (carried on from the history the memo kept). Its blocks may be shared with what a memo
    keeps: a caller that marks one replaces it with a marked copy."""

    system: list[Block]
    messages: list[Message]
    settled: json_runs.EncodedPrefix

    def messages_json(self) -> bytes:
        """The JSON array of `messages`: the kept JSON of a long history's messages and the
        few new ones."""
        return json_runs.array(self.settled.rest(self.messages))


class _Conversion:
    """Items in, system blocks and messages out."""

    def __init__(self) -> None:
        self.system: list[Block] = []
        self.messages: list[Message] = []

    def resume(self, kept: KeptConversion) -> None:
        self.system = list(kept.system)
        self.messages = list(kept.messages)
        if self.messages:
            self.messages[-1] = _own_copy(self.messages[-1])

    def add(self, items: list[Item], start: int, end: int) -> None:
        system, messages = self.system, self.messages
        for index in range(start, end):
            item = items[index]
            kind = item.get("type", "message")
            if kind == "message":
                role = item["role"]
                if role in ("system", "developer"):
                    if text := _plain_text(item["content"]):
                        system.append({"type": "text", "text": text})
                elif role == "assistant":
                    _add(messages, "assistant", _assistant_blocks(item["content"]))
                else:
                    _add(messages, "user", _user_blocks(item["content"]))
            elif kind == "function_call":
                _add(messages, "assistant", [_tool_use(item)])
            elif kind == "function_call_output":
                _add(messages, "user", [_tool_result(item)], first=True)
            elif kind == "reasoning" and (block := _thinking(item)) is not None:
                _add(messages, "assistant", [block])


def _snapshot(messages: list[Message]) -> tuple[Message, ...]:
    """The messages so far, the last as a copy: later items change it in place."""
    return (*messages[:-1], _own_copy(messages[-1])) if messages else ()


def _own_copy(message: Message) -> Message:
    """A copy of `message` whose content a later item can change without changing
    `message`'s (the blocks in it are never changed in place)."""
    return {**message, "content": list(message["content"])}


def tool_use_id(call_id: str) -> str:
    """Anthropic takes ids of letters, digits, `_` and `-` only; others are made to fit, the
    same way for a call and its output."""
    return _TOOL_ID_CHARS.sub("_", call_id) or "call"


def _add(messages: list[Message], role: str, blocks: list[Block], *, first: bool = False) -> None:
    """Append `blocks` to the last message if it has `role`, else start one. With `first`, the
    blocks go before what the message holds but its other tool results (which must lead)."""
    if not blocks:
        return
    last = messages[-1] if messages else None
    if last is None or last["role"] != role:
        messages.append({"role": role, "content": list(blocks)})
        return
    content: list[Block] = last["content"]
    if not first:
        content.extend(blocks)
        return
    at = 0
    while at < len(content) and content[at]["type"] == "tool_result":
        at += 1
    content[at:at] = blocks


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if "text" in part)


def _assistant_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    for part in content:
        text = part.get("text") if "text" in part else part.get("refusal")
        if text:
            blocks.append({"type": "text", "text": str(text)})
    return blocks


def _user_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = [_content_block(part) for part in content]
    return [b for b in blocks if b["type"] != "text" or b["text"]]


def _content_block(part: dict[str, Any]) -> Block:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        return _image(part["image_url"])
    if kind == "input_file":
        return _document(part["file_data"], part.get("filename") or "file")
    raise ValueError(f"content part type {kind!r} has no Anthropic form")


def _image(url: str) -> Block:
    media_type, encoding, payload = _split_data_url(url)
    if url.startswith("data:") and encoding == "base64":
        source = {"type": "base64", "media_type": media_type, "data": payload}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(data_url: str, filename: str) -> Block:
    media_type, _, payload = _split_data_url(data_url)
    if media_type.startswith("image/"):
        return _image(data_url)
    if media_type.startswith(_TEXT_MEDIA_PREFIXES) or filename.endswith(
        (".txt", ".md", ".csv", ".json")
    ):
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = None
        if text is not None:
            source = {"type": "text", "media_type": "text/plain", "data": text}
            return {"type": "document", "source": source, "title": filename}
    source = {"type": "base64", "media_type": media_type or "application/pdf", "data": payload}
    return {"type": "document", "source": source, "title": filename}


def _split_data_url(value: str) -> tuple[str, str, str]:
    """(media type, encoding, payload) of a data URL; a bare base64 string has no type."""
    if value.startswith("data:") and "," in value:
        header, payload = value[5:].split(",", 1)
        media_type, _, encoding = header.partition(";")
        return media_type.lower(), encoding, payload
    return "", "base64", value


def _tool_use(item: Item) -> Block:
    try:
        arguments = json.loads(item.get("arguments") or "{}")
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        # Anthropic takes an object only; what the model sent is kept, not lost.
        arguments = {"arguments": item.get("arguments")}
    return {
        "type": "tool_use",
        "id": tool_use_id(item["call_id"]),
        "name": item["name"],
        "input": arguments,
    }


def _tool_result(item: Item) -> Block:
    output = item["output"]
    block: Block = {"type": "tool_result", "tool_use_id": tool_use_id(item["call_id"])}
    if isinstance(output, str):
        block["content"] = output
    else:
        parts = [_content_block(part) for part in output]
        block["content"] = [p for p in parts if p["type"] != "text" or p["text"]]
    return block


def _thinking(item: Item) -> Block | None:
    sealed = item.get("encrypted_content")
    if not isinstance(sealed, str):
        return None
    if sealed.startswith(REDACTED_PREFIX):
        return {"type": "redacted_thinking", "data": sealed.removeprefix(REDACTED_PREFIX)}
    if not sealed.startswith(THINKING_PREFIX):
        return None
    parts = item.get("content") or ()
    text = "".join(p.get("text", "") for p in parts if p.get("type") == "reasoning_text")
    if not text:
        text = "\n\n".join(p.get("text", "") for p in item.get("summary") or ())
    return {
        "type": "thinking",
        "thinking": text,
        "signature": sealed.removeprefix(THINKING_PREFIX),
    }
