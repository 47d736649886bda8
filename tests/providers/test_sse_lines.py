"""The upstream SSE reader splits lines only where the SSE spec says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from threadline.providers.sse_lines import sse_lines


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _lines(*parts: bytes) -> list[str]:
    async def collect() -> list[str]:
        return [line async for line in sse_lines(_chunks(*parts))]

    return asyncio.run(collect())


def test_unicode_line_separators_inside_json_do_not_split_a_line() -> None:
    data = 'data: {"content": "a\u2028b\u0085c\x0cd"}\n\n'.encode()
    assert _lines(data) == ['data: {"content": "a\u2028b\u0085c\x0cd"}', ""]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_each_spec_line_ending_ends_a_line(ending: bytes) -> None:
    assert _lines(b"data: 1" + ending + b"data: 2" + ending) == ["data: 1", "data: 2"]


def test_lines_and_crlf_split_across_chunks_are_joined() -> None:
    assert _lines(b"da", b"ta: 1\r", b"\ndata: 2", b"\n") == ["data: 1", "data: 2"]


def test_multibyte_characters_split_across_chunks_survive() -> None:
    encoded = "data: é\n".encode()
    assert _lines(encoded[:7], encoded[7:]) == ["data: é"]
