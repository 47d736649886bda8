"""Cutting a document into chunks of tokens, as OpenAI's `static` chunking strategy does:
windows of `max_chunk_size_tokens` tokens, each starting `max - overlap` tokens after the last,
so neighbouring chunks share `chunk_overlap_tokens` tokens. `auto` is the static strategy with
OpenAI's defaults (800 and 400).

Tokens are o200k_base's (`bpe-openai`, shipped in the package). A window's edges may fall inside
a character that takes several tokens; its broken bytes are dropped.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

from threadline.errors import InvalidRequest

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400
MIN_MAX_TOKENS, MAX_MAX_TOKENS = 100, 4096


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str
    tokens: int


def chunking_of(strategy: Any, param: str = "chunking_strategy") -> dict[str, int]:
    """The static strategy a request's `chunking_strategy` (a dict, or None for `auto`) asks
    for; a 400 naming `param` when it breaks OpenAI's rules."""
    if strategy is None or strategy.get("type") == "auto":
        return {
            "max_chunk_size_tokens": DEFAULT_MAX_TOKENS,
            "chunk_overlap_tokens": DEFAULT_OVERLAP_TOKENS,
        }
    if strategy.get("type") != "static" or not isinstance(strategy.get("static"), dict):
        raise InvalidRequest(
            f'\'{param}\' must be {{"type": "auto"}} or {{"type": "static", "static": {{...}}}}.',
            param=f"{param}.type",
        )
    static = strategy["static"]
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or not MIN_MAX_TOKENS <= size <= MAX_MAX_TOKENS:
        raise InvalidRequest(
            f"'max_chunk_size_tokens' must be an integer from {MIN_MAX_TOKENS} to "
            f"{MAX_MAX_TOKENS}.",
            param=f"{param}.static.max_chunk_size_tokens",
        )
    if not isinstance(overlap, int) or not 0 <= overlap <= size // 2:
        raise InvalidRequest(
            "'chunk_overlap_tokens' must be an integer from 0 to half of 'max_chunk_size_tokens'.",
            param=f"{param}.static.chunk_overlap_tokens",
        )
    return {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}


@functools.cache
def _encoding() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # noqa: PLC0415 (its vocabulary loads in about a second: on first use)

        return bpe_openai.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode_ordinary(text))


def chunk_text(text: str, chunking: dict[str, int]) -> list[TextChunk]:
    size = chunking["max_chunk_size_tokens"]
    step = size - chunking["chunk_overlap_tokens"]
    encoding = _encoding()
    tokens = encoding.encode_ordinary(text)
    chunks: list[TextChunk] = []
    start = 0
    while start < len(tokens):
        window = tokens[start : start + size]
        piece = encoding.decode_bytes(window).decode("utf-8", errors="ignore").strip()
        if piece:
            chunks.append(TextChunk(piece, len(window)))
        if start + size >= len(tokens):
            break
        start += step
    return chunks
