"""The fake model's Responses endpoint: `POST /v1/responses` on the same fake server, standing
for an upstream that speaks the Responses API itself (OpenAI, vLLM, Ollama…).

The request is read as the Chat Completions request it stands for (`chat_view`), so every
directive of `tests/fake_upstream.py` works the same (the raw body is in `fake.requests`), and
the reply is written back as a Response object, or as its stream of events.

What only this API has:
- `reason <text>` answers with a reasoning item (id `rs_fakeN`) whose summary is <text>
  (streamed as `response.reasoning_summary_text.delta`) and whose `encrypted_content` is
  `enc:<words of text>`, so a test can see it sent back on the next turn.
- `cached_tokens` is the word count of `instructions` when the request gives a
  `prompt_cache_key`.
- `max_output_tokens` cuts the answer: `status: "incomplete"`, reason `max_output_tokens`.
- `POST /v1/responses/input_tokens` counts the input as a turn's usage would: the words of
  every message (instructions included).
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
    error_body,
    last_user_text,
    plan_reply,
    split_arguments,
    split_pieces,
)


def chat_view(body: JSON) -> JSON:
    """The Chat Completions body a Responses request stands for (for reply planning)."""
    messages: list[JSON] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    items = (
        [{"type": "message", "role": "user", "content": given}] if isinstance(given, str) else given
    )
    for item in items or ():
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _content(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = (
                output
                if isinstance(output, str)
                else "".join(
                    p.get("text", "") for p in output or () if p.get("type") == "input_text"
                )
            )
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
    view: JSON = {"model": body.get("model"), "messages": messages}
    view["max_tokens"] = body.get("max_output_tokens")
    tools = [
        {"type": "function", "function": {"name": t.get("name"), "parameters": t.get("parameters")}}
        for t in body.get("tools") or ()
        if t.get("type") == "function"
    ]
    if tools:
        view["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        view["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        view["tool_choice"] = choice
    return view


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts: list[JSON] = []
    for part in content or ():
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": part.get("image_url")}})
        elif kind == "input_file":
            parts.append({"type": "file", "file": {"filename": part.get("filename")}})
    return parts


class _Writer:
    def __init__(self, body: JSON, reply: Reply, index: int) -> None:
        self.body, self.reply, self.index = body, reply, index
        self.sequence = 0

    def items(self) -> list[JSON]:
        r = self.reply
        items: list[JSON] = []
        if r.reasoning is not None:
            items.append(
                {
                    "id": f"rs_fake{self.index}",
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": r.reasoning}],
                    "encrypted_content": "enc:" + "-".join(r.reasoning.split()),
                }
            )
        parts: list[JSON] = []
        if r.content:
            parts.append({"type": "output_text", "text": r.content, "annotations": []})
        if r.refusal:
            parts.append({"type": "refusal", "refusal": r.refusal})
        if parts:
            items.append(
                {
                    "id": f"msg_fake{self.index}",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": parts,
                }
            )
        for number, call in enumerate(r.tool_calls):
            items.append(
                {
                    "id": f"fc_fake{self.index}_{number}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
        return items

    def response(self) -> JSON:
        r = self.reply
        cut = r.finish_reason == "length"
        cached = (
            count_words(self.body.get("instructions")) if self.body.get("prompt_cache_key") else 0
        )
        return {
            "id": f"resp_fake{self.index}",
            "object": "response",
            "model": self.body.get("model"),
            "status": "incomplete" if cut else "completed",
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "output": self.items(),
            "usage": {
                "input_tokens": r.prompt_tokens,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": r.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
                "total_tokens": r.prompt_tokens + r.completion_tokens,
            },
        }

    def event(self, kind: str, **fields: Any) -> bytes:
        self.sequence += 1
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        return f"event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"

    def events(self) -> list[bytes]:
        final = self.response()
        start = {**final, "status": "in_progress", "output": [], "usage": None}
        out = [self.event("response.created", response=start)]
        out.append(self.event("response.in_progress", response=start))
        for index, item in enumerate(final["output"]):
            out += self._item_events(index, item)
        end = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(self.event(end, response=final))
        return out

    def _item_events(self, index: int, item: JSON) -> list[bytes]:
        kind = item["type"]
        opened: JSON = {**item, "status": "in_progress"}
        if kind == "reasoning":
            opened = {**opened, "summary": [], "encrypted_content": None}
        elif kind == "message":
            opened = {**opened, "content": []}
        elif kind == "function_call":
            opened = {**opened, "arguments": ""}
        out = [self.event("response.output_item.added", output_index=index, item=opened)]
        at = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            text = item["summary"][0]["text"]
            for piece in split_pieces(text):
                out.append(
                    self.event(
                        "response.reasoning_summary_text.delta", **at, summary_index=0, delta=piece
                    )
                )
        elif kind == "message":
            for number, part in enumerate(item["content"]):
                if part["type"] == "output_text":
                    for piece in split_pieces(part["text"]):
                        out.append(
                            self.event(
                                "response.output_text.delta",
                                **at,
                                content_index=number,
                                delta=piece,
                            )
                        )
                else:
                    for piece in split_pieces(part["refusal"]):
                        out.append(
                            self.event(
                                "response.refusal.delta", **at, content_index=number, delta=piece
                            )
                        )
        elif kind == "function_call":
            for piece in split_arguments(item["arguments"]):
                out.append(self.event("response.function_call_arguments.delta", **at, delta=piece))
        out.append(self.event("response.output_item.done", output_index=index, item=item))
        return out


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status, headers, "application/json")


async def responses(request: Request) -> Response:
    state = request.app.state.fake
    raw = await request.body()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw.decode(errors="replace")
    index = state.add(body, dict(request.headers))
    if not isinstance(body, dict) or "input" not in body:
        return _json(error_body(400, "fake upstream: body must be JSON with 'input'"), 400)
    view = chat_view(body)
    reply = plan_reply(view, state.new_call_id)
    if state.flaky_failure(last_user_text(view["messages"])):
        return _json(error_body(503, "fake upstream flaky failure"), 503, {"retry-after": "0"})
    await state.sleep(reply.delay)
    if reply.mode == "fail":
        headers = {"retry-after": "1"} if reply.status == 429 else None
        return _json(reply.error, reply.status, headers)
    writer = _Writer(body, reply, index)
    if body.get("stream") is True:
        return StreamingResponse(_stream(state, writer), 200, None, "text/event-stream")
    if reply.mode == "stall":
        await state.sleep(LONG_SLEEP)
        return _json(error_body(503, "fake upstream stopped while stalling"), 503)
    return _json(writer.response())


async def input_tokens(request: Request) -> Response:
    state = request.app.state.fake
    body = orjson.loads(await request.body())
    state.add(body, dict(request.headers))
    view = chat_view(body)
    counted = sum(count_words(content_text(m.get("content"))) for m in view["messages"])
    return _json({"object": "response.input_tokens", "input_tokens": counted})


async def _stream(state: Any, writer: _Writer) -> AsyncIterator[bytes]:
    events = writer.events()
    if writer.reply.mode == "stall":
        yield events[0]
        await state.sleep(LONG_SLEEP)
        return
    if writer.reply.mode == "garbage":
        yield events[0]
        yield b"event: response.output_text.delta\ndata: {this is not json\n\n"
        return
    for event in events:
        await state.sleep(state.chunk_delay)
        yield event
