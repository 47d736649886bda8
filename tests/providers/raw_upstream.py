"""A hand-driven Chat Completions endpoint for provider tests that need to misbehave at the
HTTP level (act as a proxy, drop a kept-alive connection), and the request they send it."""

from __future__ import annotations

import asyncio

import orjson

from threadline.providers.base import ProviderRequest, TextDelta
from threadline.providers.openai_chat import OpenAIChatProvider

ANSWER_TEXT = "raw answer"
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER_TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
)


async def read_request(reader: asyncio.StreamReader) -> str | None:
    """The request line of the next request on the connection (its body read and dropped),
    or None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode().split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return lines[0]


async def answer(writer: asyncio.StreamWriter, *, keep_alive: bool) -> None:
    connection = b"keep-alive" if keep_alive else b"close"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: "
        + connection
        + f"\r\nContent-Length: {len(ANSWER)}\r\n\r\n".encode()
        + ANSWER
    )
    await writer.drain()


def provider_request() -> ProviderRequest:
    return ProviderRequest(
        model="m",
        instructions=None,
        items=[{"type": "message", "role": "user", "content": "hi"}],
        incremental=False,
    )


async def answer_text(provider: OpenAIChatProvider) -> str:
    events = [e async for e in provider.stream(provider_request())]
    return "".join(e.text for e in events if isinstance(e, TextDelta))
