"""One conversation written from many connections at once, and the checks on what it holds.

Turn n sends `turn-n` (the fake model answers `echo: turn-n`); item batch n adds
`added-n-a`, `added-n-b` through the items endpoint. Work is split into lanes, one thread and
one keep-alive client each, so every lane stays on the server (or worker) it was given.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from tests.conftest import MODEL


def run_turn(client: httpx.Client, conversation: str, n: int) -> httpx.Response:
    """Send turn n, again while the conversation is busy with another turn (`conversation_locked`
    says to retry in a moment), as a client does."""
    body = {"model": MODEL, "input": f"turn-{n}", "conversation": conversation}
    deadline = time.monotonic() + 60
    while True:
        response = client.post("/v1/responses", json=body)
        locked = response.status_code == 400 and "conversation_locked" in response.text
        if not locked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert response.status_code == 200, response.text
    return response


def add_items(client: httpx.Client, conversation: str, n: int) -> httpx.Response:
    items = [{"type": "message", "role": "user", "content": f"added-{n}-{x}"} for x in "ab"]
    response = client.post(f"/v1/conversations/{conversation}/items", json={"items": items})
    assert response.status_code == 200, response.text
    return response


def write_from_lanes(
    lanes: list[httpx.Client], conversation: str, *, turns: int, batches: int
) -> list[list[httpx.Response]]:
    """Run the turns and item batches spread over the lanes, concurrently; each lane's
    responses, in the order it sent its requests."""
    jobs = [("turn", n) for n in range(turns)] + [("items", n) for n in range(batches)]
    jobs.sort(key=lambda job: job[1])  # interleave turns and batches

    def lane(index: int) -> list[httpx.Response]:
        client = lanes[index]
        return [
            run_turn(client, conversation, n)
            if kind == "turn"
            else add_items(client, conversation, n)
            for kind, n in jobs[index :: len(lanes)]
        ]

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        return list(pool.map(lane, range(len(lanes))))


def conversation_texts(client: httpx.Client, conversation: str) -> list[str]:
    response = client.get(
        f"/v1/conversations/{conversation}/items", params={"order": "asc", "limit": 100}
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["has_more"] is False
    return [item["content"][0]["text"] for item in page["data"]]


def assert_every_turn_contiguous(texts: list[str], *, turns: int, batches: int) -> None:
    assert len(texts) == 2 * turns + 2 * batches and len(set(texts)) == len(texts)
    for n in range(turns):
        start = texts.index(f"turn-{n}")
        assert texts[start + 1] == f"echo: turn-{n}"
    for n in range(batches):
        start = texts.index(f"added-{n}-a")
        assert texts[start + 1] == f"added-{n}-b"
