"""Input tokens estimated here, for upstreams with no counting endpoint (Chat Completions) and
for truncation, which must not call the upstream once per dropped turn.

The text is encoded with the BPE of the model's family (`bpe-openai`: OpenAI's o200k_base and
cl100k_base, shipped inside the package, nothing downloaded); names it does not know use
o200k_base. Each item adds the few tokens of its framing, as OpenAI's chat format does (3 per
message, 3 to prime the answer). Images count 85 tokens (OpenAI's low-detail price); files are
counted by their text when the engine extracted it, else by nothing. For OpenAI's own models
the estimate is within a few percent of the upstream's count (docs/api.md gives figures); for
other families (Llama, Qwen, Claude) it is the order of magnitude, not the count.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import orjson

from threadline.providers.base import ProviderRequest, TokenCount

_PER_ITEM = 3
_PRIMING = 3
_IMAGE = 85
_FALLBACK = "o200k_base"


@functools.cache
def _encoding(model: str) -> Any:
    with warnings.catch_warnings():
        # Its loader uses importlib.resources.open_binary, deprecated in Python 3.11.
        warnings.simplefilter("ignore", DeprecationWarning)
        # Imported on first use: the import loads a vocabulary (about a second), which the
        # server's start and every CLI command would otherwise pay.
        import bpe_openai  # noqa: PLC0415 (see above)

        try:
            name = bpe_openai.encoding_name_for_model(model)
        except Exception:
            name = _FALLBACK
        encoding = bpe_openai.get_encoding(name)
        encoding.encode_ordinary("")  # its tables load on first use
    return encoding


def estimate(request: ProviderRequest) -> TokenCount:
    return TokenCount(estimate_items(request.model, request.items) + _framing(request), exact=False)


def estimate_items(model: str, items: list[dict[str, Any]]) -> int:
    """The tokens of `items` alone (each with its framing)."""
    encoding = _encoding(model)
    return sum(_item_tokens(encoding, item) for item in items)


def item_tokens(model: str, item: dict[str, Any]) -> int:
    return _item_tokens(_encoding(model), item)


def _framing(request: ProviderRequest) -> int:
    encoding = _encoding(request.model)
    tokens = _PRIMING
    if request.instructions:
        tokens += _PER_ITEM + len(encoding.encode_ordinary(request.instructions))
    if request.tools:
        tokens += len(encoding.encode_ordinary(orjson.dumps(request.tools).decode()))
    if request.text_format is not None:
        tokens += len(encoding.encode_ordinary(orjson.dumps(request.text_format).decode()))
    return tokens


def _item_tokens(encoding: Any, item: dict[str, Any]) -> int:
    texts: list[str] = []
    images = 0
    kind = item.get("type", "message")
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in content if isinstance(content, list) else ():
            if part.get("type") == "input_image":
                images += 1
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    texts.append(part[key])
    elif kind == "function_call":
        texts += [str(item.get("name", "")), str(item.get("arguments", ""))]
    elif kind == "function_call_output":
        output = item.get("output")
        texts.append(output if isinstance(output, str) else orjson.dumps(output).decode())
    elif kind == "reasoning":
        texts += [s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict)]
    else:
        texts.append(orjson.dumps(item).decode())
    text_tokens = sum(len(encoding.encode_ordinary(text)) for text in texts if text)
    return _PER_ITEM + text_tokens + images * _IMAGE
