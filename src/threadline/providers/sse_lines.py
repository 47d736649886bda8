"""Split a server-sent event stream into lines the way the SSE spec does.

Only CR, LF and CRLF end a line. httpx's `aiter_lines` follows `str.splitlines`, which also
breaks on U+2028, U+0085, form feeds and other characters that a model's output can carry,
raw, inside a JSON string: that would cut a `data:` line in two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        # A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        cut = len(pending) - 1 if pending.endswith(b"\r") else len(pending)
        complete, pending = pending[:cut], pending[cut:]
        *lines, rest = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending = rest + pending
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", errors="replace")
