"""Items as people read them: a transcript on the terminal, or a Markdown document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from threadline.cli.output import when

Item = dict[str, Any]

_STYLES = {"user": "bold green", "assistant": "bold cyan", "tool": "bold magenta"}


def speaker_and_text(item: Item) -> tuple[str, str]:
    """Who speaks in an item, and what it says, as plain text."""
    kind = item.get("type")
    if kind == "message":
        return str(item.get("role", "?")), content_text(item.get("content"))
    if kind == "function_call":
        return "tool call", f"{item.get('name')}({item.get('arguments', '')})"
    if kind == "function_call_output":
        return "tool", content_text(item.get("output"))
    if kind == "reasoning":
        parts = (item.get("content") or []) + (item.get("summary") or [])
        return "reasoning", content_text(parts)
    fields = {k: v for k, v in item.items() if k not in ("id", "type", "status")}
    return str(kind), json.dumps(fields, ensure_ascii=False)


def content_text(content: Any) -> str:
    """The text of a content field: a string, or a list of parts (non-text parts in brackets)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = []
    for part in content if isinstance(content, list) else [content]:
        if not isinstance(part, dict):
            pieces.append(str(part))
            continue
        kind = part.get("type")
        if "text" in part and kind != "refusal":
            pieces.append(str(part["text"]))
        elif kind == "refusal":
            pieces.append(f"[refusal] {part.get('refusal', '')}")
        elif kind == "input_image":
            pieces.append(f"[image: {part.get('image_url') or part.get('file_id') or '?'}]")
        elif kind == "input_file":
            pieces.append(f"[file: {part.get('filename') or part.get('file_id') or '?'}]")
        else:
            pieces.append(f"[{kind}]")
    return "\n".join(pieces)


def print_transcript(console: Console, items: Iterable[Item]) -> int:
    """Print items as `speaker: text` blocks; returns how many were printed."""
    count = 0
    for item in items:
        speaker, text = speaker_and_text(item)
        line = Text.assemble((f"{speaker}: ", _STYLES.get(speaker, "bold")), text)
        console.print(line, soft_wrap=True)
        count += 1
    return count


def markdown_export(export: dict[str, Any]) -> str:
    """A conversation export (`conversation.export`) as a Markdown document.

    Everything in it came from callers or the model, so none of it may shape the document: a
    message cannot forge a heading (another speaker) or carry raw HTML. What each item says
    goes in a fenced block no line of it can close; names and metadata are escaped inline.
    """
    conversation = export.get("conversation", {})
    lines = [f"# Conversation {_inline(conversation.get('id', ''))}", ""]
    lines.append(f"- Created: {when(conversation.get('created_at'))}")
    if conversation.get("status"):
        lines.append(f"- Status: {_inline(conversation['status'])}")
    for key, value in (conversation.get("metadata") or {}).items():
        lines.append(f"- {_inline(key)}: {_inline(value)}")
    lines.append(f"- Exported: {when(export.get('exported_at'))}")
    for item in export.get("items", []):
        speaker, text = speaker_and_text(item)
        lines += ["", f"## {_inline(speaker)}", ""]
        if item.get("type") == "function_call":
            lines += [
                _inline(item.get("name")),
                "",
                *_fenced(str(item.get("arguments", "")), "json"),
            ]
        else:
            lines += _fenced(text)
    return "\n".join(lines) + "\n"


_BACKTICK_RUN = re.compile(r"`+")
# What can open HTML, an entity, a link, an image, code, a table cell or a heading. Emphasis
# by `_` is left alone: it shapes nothing, and ids read better without a backslash in each.
_SIGNIFICANT = re.compile(r"([\\`*\[\]<>&!|#~])")


def _fenced(text: str, language: str = "text") -> list[str]:
    """A fenced code block longer than any backtick run inside, so the text cannot close it;
    inside one, Markdown and HTML are shown, never interpreted."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text, fence]


def _inline(value: Any) -> str:
    """Literal text on one line: the characters that could start a tag, an entity, a link or
    a heading are backslash-escaped (CommonMark allows it for any ASCII punctuation)."""
    flat = " ".join(str(value).split())
    return _SIGNIFICANT.sub(r"\\\1", flat)


def response_header(response: dict[str, Any]) -> list[tuple[str, str]]:
    """The provenance of a response, as (label, value) rows."""
    usage = response.get("usage") or {}
    error = response.get("error") or {}
    conversation = response.get("conversation") or {}
    rows = [
        ("id", str(response.get("id"))),
        ("status", str(response.get("status"))),
        ("model", str(response.get("model"))),
        ("created", when(response.get("created_at"))),
        ("previous response", str(response.get("previous_response_id") or "")),
        ("conversation", str(conversation.get("id", "") if isinstance(conversation, dict) else "")),
        (
            "tokens",
            f"{usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out"
            if usage
            else "",
        ),
        ("error", f"{error.get('code')}: {error.get('message')}" if error else ""),
    ]
    return [(label, value) for label, value in rows if value]
