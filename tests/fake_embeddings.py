"""The fake model's embeddings endpoint: `POST /v1/embeddings` on the same fake server.

Each text's vector is deterministic and depends on the text alone: `dimensions` numbers (8 by
default) drawn from its SHA-256, scaled to unit length, so equal texts have equal vectors and a
test can compute what Threadline should return (`fake_vector`). Token lists are embedded as the
text of their numbers joined by spaces. `prompt_tokens` counts words (or tokens). The model
`missing-model` is a 404; the text `fail <status>` answers that status; a text that starts
`slow <seconds>` is answered that much later (at most 10 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
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
    dimensions = min(int(body.get("dimensions") or 8), 16384)  # a fuzzer cannot wedge the fake
    tokens = sum(len(text.split()) for text in texts)
    return _json(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": fake_vector(text, dimensions)}
                for i, text in enumerate(texts)
            ],
            "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
