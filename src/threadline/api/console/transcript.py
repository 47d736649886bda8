"""A conversation's items as the console's transcript shows them: one entry per item, its
parts each text, an image, a file or a refusal, with who spoke or which tool ran.

Text is kept with its length, so the page can say how much is hidden before the operator asks
to see it. An image is shown only when it is inline (`data:`); an image by address is a link,
so opening a transcript never makes the browser fetch from a site a user named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

PartKind = Literal["text", "image", "image_link", "file", "refusal", "code"]


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    text: str
    """The text, the image's or file's address or name, or the code."""

    @property
    def chars(self) -> int:
        return len(self.text)


@dataclass(slots=True)
class Entry:
    item_id: str
    kind: Literal["message", "tool_call", "tool_output", "reasoning", "other"]
    label: str
    """`user`, `assistant`, `function call get_weather`, `web search`…"""
    parts: list[Part] = field(default_factory=list)
    status: str | None = None
    failed: bool = False

    @property
    def chars(self) -> int:
        return sum(part.chars for part in self.parts)


def transcript(items: list[dict[str, Any]]) -> list[Entry]:
    return [entry_of(item) for item in items]


def entry_of(item: dict[str, Any]) -> Entry:
    kind = item.get("type", "")
    item_id = str(item.get("id", ""))
    status = item.get("status")
    failed = status in ("failed", "incomplete")
    if kind == "message":
        parts = [p for c in item.get("content") or [] if (p := _content_part(c)) is not None]
        role = str(item.get("role", "message"))
        return Entry(item_id, "message", role, parts, status, failed)
    if kind == "function_call":
        name = str(item.get("name", ""))
        code = Part("code", str(item.get("arguments", "")))
        return Entry(item_id, "tool_call", f"function call {name}", [code], status, failed)
    if kind in ("function_call_output", "custom_tool_call_output"):
        return Entry(item_id, "tool_output", "tool output", [_output(item.get("output"))], status)
    if kind == "reasoning":
        summary = [Part("text", str(s.get("text", ""))) for s in item.get("summary") or []]
        if item.get("encrypted_content"):
            summary.append(Part("text", "(encrypted reasoning, not readable here)"))
        return Entry(item_id, "reasoning", "reasoning", summary, status)
    if kind == "mcp_call":
        label = f"MCP {item.get('server_label', '')} {item.get('name', '')}".strip()
        parts = [Part("code", str(item.get("arguments", "")))]
        if item.get("output") is not None:
            parts.append(_output(item.get("output")))
        error = item.get("error")
        if error:
            parts.append(Part("text", f"error: {error}"))
        return Entry(item_id, "tool_call", label, parts, status, failed or bool(error))
    if kind in ("web_search_call", "file_search_call"):
        what = "web search" if kind == "web_search_call" else "file search"
        queries = item.get("queries") or [(item.get("action") or {}).get("query", "")]
        parts = [Part("text", str(q)) for q in queries if q]
        return Entry(item_id, "tool_call", what, parts, status, failed)
    return Entry(item_id, "other", kind.replace("_", " ") or "item", [_output(item)], status)


def _content_part(content: dict[str, Any]) -> Part | None:
    kind = content.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
        return Part("text", str(content.get("text", "")))
    if kind == "refusal":
        return Part("refusal", str(content.get("refusal", "")))
    if kind == "input_image":
        url = content.get("image_url")
        if isinstance(url, str) and url.startswith("data:image/"):
            return Part("image", url)
        return Part("image_link", str(url or content.get("file_id") or "image"))
    if kind == "input_file":
        name = content.get("filename") or content.get("file_id") or content.get("file_url")
        return Part("file", str(name or "file"))
    return None


def _output(output: Any) -> Part:
    if isinstance(output, str):
        return Part("text", output)
    return Part("code", json.dumps(output, indent=2, ensure_ascii=False))
