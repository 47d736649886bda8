"""The fake model's Anthropic Messages endpoint: `POST /v1/messages` on the same fake server.

The request is read as the Chat Completions request it stands for (`chat_view`), so every
directive of `tests/fake_upstream.py` works the same (`describe` describes that view; the raw
Anthropic body is in `fake.requests`), and the reply is written back in Anthropic's shapes:
a Message, or its stream (message_start, content blocks with their deltas, message_delta,
message_stop).

What only Anthropic has:
- `reason <text>` answers with a `thinking` block whose signature is `sig:<words of text>`
  (streamed as a `signature_delta`), so a test can see it sent back on the next turn.
- Usage: `cache_read_input_tokens` is the word count of the system prompt when the request
  marks it cacheable (`cache_control`), `input_tokens` the other words; nothing is written to
  the cache.
- Errors are Anthropic's: `{"type": "error", "error": {"type", "message"}}`; 529 is
  `overloaded_error`.
- Tool call ids are `toolu_N`.
- `POST /v1/messages/count_tokens` counts the words a turn's usage would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.fake_upstream_replies import (
    JSON,
    LONG_SLEEP,
    Reply,
    content_text,
    count_words,
    last_user_text,
    plan_reply,
    split_arguments,
    split_pieces,
)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def chat_view(body: JSON) -> JSON:
    """The Chat Completions body an Anthropic request stands for (for reply planning)."""
    messages: list[JSON] = []
    system = body.get("system")
    if isinstance(system, str):
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list):
        messages.append({"role": "system", "content": "".join(b.get("text", "") for b in system)})
    for message in body.get("messages") or ():
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message.get("role") == "assistant":
            messages.append(_assistant(blocks))
            continue
        parts: list[JSON] = []
        for block in blocks:
            if block.get("type") == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id"),
                        "content": _result_text(block.get("content")),
                    }
                )
            elif block.get("type") == "text":
                parts.append({"type": "text", "text": block.get("text", "")})
            elif block.get("type") == "image":
                source = block.get("source") or {}
                url = source.get("url") or f"data:{source.get('media_type')};base64,..."
                parts.append({"type": "image_url", "image_url": {"url": url}})
            elif block.get("type") == "document":
                parts.append({"type": "file", "file": {"filename": block.get("title")}})
        if parts:
            messages.append({"role": "user", "content": parts})
    view: JSON = {"model": body.get("model"), "messages": messages}
    view["max_tokens"] = body.get("max_tokens")
    tools = [
        {"type": "function", "function": {"name": t["name"], "parameters": t.get("input_schema")}}
        for t in body.get("tools") or ()
    ]
    if tools:
        view["tools"] = tools
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "any":
        view["tool_choice"] = "required"
    elif choice.get("type") == "none":
        view["tool_choice"] = "none"
    elif choice.get("type") == "tool":
        view["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    return view


def _assistant(blocks: list[JSON]) -> JSON:
    message: JSON = {
        "role": "assistant",
        "content": "".join(b.get("text", "") for b in blocks if b.get("type") == "text"),
    }
    calls = [
        {
            "id": b.get("id"),
            "type": "function",
            "function": {"name": b.get("name"), "arguments": orjson.dumps(b.get("input")).decode()},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    if calls:
        message["tool_calls"] = calls
    thinking = [b.get("thinking", "") for b in blocks if b.get("type") == "thinking"]
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    return message


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or () if b.get("type") == "text")


def error_body(status: int, message: str) -> JSON:
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


class _Writer:
    """The reply as an Anthropic Message, or as the events of its stream."""

    def __init__(self, body: JSON, reply: Reply, index: int) -> None:
        self.body, self.reply, self.index = body, reply, index
        system = body.get("system")
        cached = isinstance(system, list) and any("cache_control" in b for b in system)
        system_words = count_words("".join(b.get("text", "") for b in system or ()))
        self.cache_read = system_words if cached else 0
        self.input_tokens = max(reply.prompt_tokens - self.cache_read, 0)

    def blocks(self) -> list[JSON]:
        r = self.reply
        blocks: list[JSON] = []
        if r.reasoning is not None:
            signature = "sig:" + "-".join(r.reasoning.split())
            blocks.append({"type": "thinking", "thinking": r.reasoning, "signature": signature})
        if r.content:
            blocks.append({"type": "text", "text": r.content})
        if r.refusal:
            blocks.append({"type": "text", "text": r.refusal})
        for call in r.tool_calls:
            arguments = orjson.loads(call.arguments or "{}")
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id.replace("call_", "toolu_"),
                    "name": call.name,
                    "input": arguments,
                }
            )
        return blocks

    def stop_reason(self) -> str:
        if self.reply.refusal:
            return "refusal"
        return _STOP.get(self.reply.finish_reason, "end_turn")

    def message(self) -> JSON:
        return {
            "id": f"msg_fake{self.index}",
            "type": "message",
            "role": "assistant",
            "model": self.body.get("model"),
            "content": self.blocks(),
            "stop_reason": self.stop_reason(),
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_read_input_tokens": self.cache_read,
                "cache_creation_input_tokens": 0,
                "output_tokens": self.reply.completion_tokens,
            },
        }

    def events(self) -> list[bytes]:
        start = {**self.message(), "content": [], "stop_reason": None}
        start["usage"] = {**start["usage"], "output_tokens": 1}
        out = [_event("message_start", {"message": start}), _event("ping", {})]
        for index, block in enumerate(self.blocks()):
            out += _block_events(index, block)
        delta = {"stop_reason": self.stop_reason(), "stop_sequence": None}
        usage = {"output_tokens": self.reply.completion_tokens}
        out.append(_event("message_delta", {"delta": delta, "usage": usage}))
        out.append(_event("message_stop", {}))
        return out


def _block_events(index: int, block: JSON) -> list[bytes]:
    kind = block["type"]
    if kind == "thinking":
        first: JSON = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in split_pieces(block["thinking"])
        ]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        first = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split_pieces(block["text"])]
    else:
        first = {**block, "input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in split_arguments(arguments)
        ]
    out = [_event("content_block_start", {"index": index, "content_block": first})]
    out += [_event("content_block_delta", {"index": index, "delta": d}) for d in deltas]
    out.append(_event("content_block_stop", {"index": index}))
    return out


def _event(kind: str, data: JSON) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **data}) + b"\n\n"


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status, headers, "application/json")


async def messages(request: Request) -> Response:
    state = request.app.state.fake
    raw = await request.body()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw.decode(errors="replace")
    index = state.add(body, dict(request.headers))
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _json(error_body(400, "fake upstream: body must be JSON with 'messages'"), 400)
    if not isinstance(body.get("max_tokens"), int):
        return _json(error_body(400, "max_tokens: Field required"), 400)
    view = chat_view(body)
    reply = plan_reply(view, lambda: state.new_call_id().replace("call_", "toolu_"))
    if state.flaky_failure(last_user_text(view["messages"])):
        return _json(error_body(529, "Overloaded"), 529, {"retry-after": "0"})
    await state.sleep(reply.delay)
    if reply.mode == "fail":
        message = str((reply.error or {}).get("error", {}).get("message", "failure"))
        headers = {"retry-after": "1"} if reply.status == 429 else None
        return _json(error_body(reply.status, message), reply.status, headers)
    writer = _Writer(body, reply, index)
    if body.get("stream") is True:
        return StreamingResponse(_stream(state, writer), 200, None, "text/event-stream")
    if reply.mode == "stall":
        await state.sleep(LONG_SLEEP)
        return _json(error_body(529, "fake upstream stopped while stalling"), 529)
    return _json(writer.message())


async def count_tokens(request: Request) -> Response:
    """`POST /v1/messages/count_tokens`: the words of every message and the system prompt,
    as a turn's usage counts them."""
    state = request.app.state.fake
    body = orjson.loads(await request.body())
    state.add(body, dict(request.headers))
    view = chat_view(body)
    counted = sum(count_words(content_text(m.get("content"))) for m in view["messages"])
    return _json({"input_tokens": counted})


async def _stream(state: Any, writer: _Writer) -> AsyncIterator[bytes]:
    events = writer.events()
    if writer.reply.mode == "stall":
        yield events[0]
        await state.sleep(LONG_SLEEP)
        return
    if writer.reply.mode == "garbage":
        yield events[0]
        yield b"event: content_block_start\ndata: {this is not json\n\n"
        return
    for event in events:
        await state.sleep(state.chunk_delay)
        yield event
