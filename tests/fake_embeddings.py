"""The fake model's embeddings endpoint: `POST /v1/embeddings` on the same fake server.

Each text's vector is deterministic and depends on the text alone: `dimensions` numbers (8 by
default) drawn from its SHA-256, scaled to unit length, so equal texts have equal vectors and a
test can compute what Threadline should return (`fake_vector`). Token lists are embedded as the
text of their numbers joined by spaces. `prompt_tokens` counts words (or tokens).

A model named `fake-embed-<N>` answers N numbers by default. A model named `fake-trigram-<N>`
answers instead a vector with some meaning, for retrieval-quality checks: the text's lower-case
words and their character trigrams, each hashed to one of N dimensions with a sign (weighted
by count), scaled to unit length, so texts sharing words and word parts are near.

The model `missing-model` is a 404; the text `fail <status>` answers that status; a text that
starts `slow <seconds>` is answered that much later (at most 10 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tests.fake_upstream_replies import error_body


def fake_vector(text: str, dimensions: int = 8) -> list[float]:
    digest = b""
    counter = 0
    while len(digest) < dimensions:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    raw = [(byte - 127.5) / 127.5 for byte in digest[:dimensions]]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def trigram_vector(text: str, dimensions: int) -> list[float]:
    raw = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        padded = f" {word} "
        for feature in [word, *(padded[i : i + 3] for i in range(len(padded) - 2))]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            raw[int.from_bytes(digest[:4], "little") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _seconds(text: str) -> float:
    try:
        return max(float(text), 0.0)
    except ValueError:
        return 0.0


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status, None, "application/json")


async def embeddings(request: Request) -> Response:
    state = request.app.state.fake
    body: Any = orjson.loads(await request.body())
    state.add(body, dict(request.headers))
    given = body.get("input")
    inputs = [given] if isinstance(given, str) or (given and isinstance(given[0], int)) else given
    if body.get("model") == "missing-model":
        return _json(error_body(404, "The model does not exist.", "model_not_found"), 404)
    texts = [t if isinstance(t, str) else " ".join(map(str, t)) for t in inputs or ()]
    for text in texts:
        word, _, status = text.partition(" ")
        if word == "slow":
            await asyncio.sleep(min(_seconds(status.split(" ")[0]), 10.0))
            break
        if word == "fail" and status.isdigit():
            return _json(error_body(int(status), f"fake upstream failure {status}"), int(status))
    model = str(body.get("model") or "")
    family, _, size = model.rpartition("-")
    default = int(size) if family in ("fake-embed", "fake-trigram") and size.isdigit() else 8
    dimensions = min(int(body.get("dimensions") or default), 16384)  # a fuzzer cannot wedge it
    vector = trigram_vector if family == "fake-trigram" else fake_vector
    tokens = sum(len(text.split()) for text in texts)
    return _json(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": vector(text, dimensions)}
                for i, text in enumerate(texts)
            ],
            "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
