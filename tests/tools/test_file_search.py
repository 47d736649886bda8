"""The file_search tool in `POST /v1/responses`: a search of the tenant's vector stores, an item
with its queries and results, citations of the files named, OpenAI's events; and the whole
path through a restart and across tenants."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import openai

from tests.api.test_vector_stores import ingested, upload
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.spec_transport import checked_http_client
from tests.tools.events import event_order, stream_events

POLICY = "Refunds are paid within 14 days of a returned order, to the card that paid."
SHIPPING = "Orders ship from the Lyon warehouse; express delivery takes two working days."
ASK = 'call file_search {"query": "refunds for a returned order"}'


def shop_store(client: openai.OpenAI) -> tuple[str, str, str]:
    refunds = upload(client, "refunds.md", POLICY.encode())
    shipping = upload(client, "shipping.md", SHIPPING.encode())
    store = client.vector_stores.create(name="shop")
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=refunds, attributes={"kind": "policy"}
    )
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=shipping, attributes={"kind": "logistics"}
    )
    ingested(client, store.id)
    return store.id, refunds, shipping


def tool(store_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": [store_id], **extra}


def test_an_answer_from_file_search_cites_the_file(client: openai.OpenAI) -> None:
    store_id, refunds, _ = shop_store(client)
    answer = client.responses.create(
        model=MODEL,
        input=ASK,
        tools=[tool(store_id)],  # type: ignore[list-item]
        include=["file_search_call.results"],
    )
    call, message = answer.output
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.id.startswith("fs_")
    assert call.queries == ["refunds for a returned order"]
    assert call.results is not None and call.results[0].file_id == refunds
    assert call.results[0].filename == "refunds.md" and POLICY in (call.results[0].text or "")
    assert call.results[0].attributes == {"kind": "policy"}
    assert message.type == "message"
    text = message.content[0]
    assert text.type == "output_text" and POLICY in text.text
    citations = [a for a in text.annotations if a.type == "file_citation"]
    cited = {(c.file_id, c.filename) for c in citations}
    assert (refunds, "refunds.md") in cited
    first = next(c for c in citations if c.file_id == refunds)
    assert text.text[: first.index].endswith("refunds.md")
    assert answer.tools[0].type == "file_search"


def test_results_are_shown_only_when_included(client: openai.OpenAI, fake: FakeUpstream) -> None:
    store_id, refunds, _ = shop_store(client)
    answer = client.responses.create(
        model=MODEL,
        input=ASK,
        tools=[tool(store_id)],  # type: ignore[list-item]
    )
    call = answer.output[0]
    assert call.type == "file_search_call" and call.results is None
    assert call.queries == ["refunds for a returned order"]
    again = client.responses.retrieve(answer.id, include=["file_search_call.results"])
    shown = again.output[0]
    assert shown.type == "file_search_call" and shown.results is not None
    assert shown.results[0].file_id == refunds
    assert client.responses.retrieve(answer.id).output[0].results is None  # type: ignore[union-attr]
    # The model read them all the same, and reads them again on the next turn.
    client.responses.create(model=MODEL, input="thanks", previous_response_id=answer.id)
    assert POLICY in fake.last_request()["body"]["messages"][2]["content"]


def test_streamed_file_search_follows_openai_event_order(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    store_id, _, _ = shop_store(client)
    events = stream_events(http, {"model": MODEL, "input": ASK, "tools": [tool(store_id)]})
    order = event_order(events)
    assert order[:7] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
    assert "response.output_text.annotation.added" in order
    assert order[-1] == "response.completed"


def test_the_tools_filters_and_result_limit_hold(client: openai.OpenAI) -> None:
    store_id, _, shipping = shop_store(client)
    answer = client.responses.create(
        model=MODEL,
        input=ASK,
        tools=[  # type: ignore[list-item]
            tool(
                store_id,
                filters={"type": "eq", "key": "kind", "value": "logistics"},
                max_num_results=1,
            )
        ],
        include=["file_search_call.results"],
    )
    call = answer.output[0]
    assert call.type == "file_search_call"
    assert [r.file_id for r in call.results or ()] == [shipping]


def test_tool_choice_file_search_makes_the_model_search(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    store_id, _, _ = shop_store(client)
    fake.clear()
    answer = client.responses.create(
        model=MODEL,
        input="How long do refunds take?",
        tools=[tool(store_id)],  # type: ignore[list-item]
        tool_choice={"type": "file_search"},
    )
    assert answer.output[0].type == "file_search_call"
    first_call = next(
        r["body"]
        for r in fake.requests
        if r["body"].get("tool_choice") is not None and isinstance(r["body"]["tool_choice"], dict)
    )
    assert first_call["tool_choice"]["function"]["name"] == "file_search"


def test_the_search_replays_on_the_next_turn(client: openai.OpenAI, fake: FakeUpstream) -> None:
    store_id, _, _ = shop_store(client)
    first = client.responses.create(
        model=MODEL,
        input=ASK,
        tools=[tool(store_id)],  # type: ignore[list-item]
    )
    client.responses.create(model=MODEL, input="thanks", previous_response_id=first.id)
    messages = fake.last_request()["body"]["messages"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "file_search"
    told = messages[2]["content"]
    assert messages[2]["role"] == "tool" and "refunds.md" in told and POLICY in told


def test_an_unknown_vector_store_is_a_404_before_the_turn(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    answer = http.post(
        "/v1/responses", json={"model": MODEL, "input": ASK, "tools": [tool("vs_missing")]}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "tools[0].vector_store_ids"
    two = http.post(
        "/v1/responses",
        json={"model": MODEL, "input": ASK, "tools": [tool("vs_a"), tool("vs_b")]},
    )
    assert two.status_code == 400


def test_a_failed_search_is_told_to_the_model(client: openai.OpenAI) -> None:
    store_id, _, _ = shop_store(client)
    answer = client.responses.create(
        model=MODEL,
        input='call file_search {"query": ""}',
        tools=[tool(store_id)],  # type: ignore[list-item]
    )
    call, message = answer.output
    assert call.type == "file_search_call" and call.status == "failed"
    assert message.type == "message" and "file search failed" in message.content[0].text  # type: ignore[union-attr]


# -- across a restart, and across tenants ------------------------------------------------------
def create_key(server: LiveServer, name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "create", name, "--db", server.database],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def sdk(server: LiveServer, key: str = "any") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key=key, max_retries=0, http_client=checked_http_client()
    )


def test_stores_files_and_answers_survive_a_restart(fresh_server: LiveServer) -> None:
    client = sdk(fresh_server)
    store_id, refunds, _ = shop_store(client)
    fresh_server.restart()
    client = sdk(fresh_server)
    store = client.vector_stores.retrieve(store_id)
    assert store.status == "completed" and store.file_counts.completed == 2
    found = client.vector_stores.search(vector_store_id=store_id, query="refund card")
    assert found.data[0].file_id == refunds
    answer = client.responses.create(
        model=MODEL,
        input=ASK,
        tools=[tool(store_id)],  # type: ignore[list-item]
    )
    assert answer.output[0].type == "file_search_call"


def test_a_file_cut_short_by_a_crash_is_ingested_after_the_restart(
    fake: FakeUpstream, tmp_path: Any
) -> None:
    # A lease as short as a test allows: the process killed mid-ingestion leaves its file
    # leased, and the restarted server takes it once the lease lapses.
    with LiveServer(
        str(tmp_path / "threadline.db"),
        fake.base_url,
        log_path=tmp_path / "server.log",
        env={"THREADLINE_INGESTION_LEASE_SECONDS": "1"},
    ) as server:
        client = sdk(server)
        slow = upload(client, "slow.txt", b"slow 1.5 " * 20)
        store = client.vector_stores.create(name="crash", file_ids=[slow])
        time.sleep(0.4)  # the embedding call is under way (the fake takes 1.5 s)
        server.stop(9)
        server.start()
        done = ingested(sdk(server), store.id)
        assert done.file_counts.completed == 1


def test_another_tenant_gets_404_on_everything(fresh_server: LiveServer) -> None:
    alice_key, bob_key = create_key(fresh_server, "alice"), create_key(fresh_server, "bob")
    fresh_server.restart()
    alice = sdk(fresh_server, alice_key)
    store_id, refunds, _ = shop_store(alice)
    batch = alice.vector_stores.file_batches.create(vector_store_id=store_id, file_ids=[refunds])
    with httpx.Client(
        base_url=fresh_server.url, headers={"Authorization": f"Bearer {bob_key}"}
    ) as http:
        for method, path, body in [
            ("GET", f"/v1/vector_stores/{store_id}", None),
            ("POST", f"/v1/vector_stores/{store_id}", {"name": "mine"}),
            ("DELETE", f"/v1/vector_stores/{store_id}", None),
            ("POST", f"/v1/vector_stores/{store_id}/search", {"query": "refund"}),
            ("GET", f"/v1/vector_stores/{store_id}/files", None),
            ("POST", f"/v1/vector_stores/{store_id}/files", {"file_id": refunds}),
            ("GET", f"/v1/vector_stores/{store_id}/files/{refunds}", None),
            ("POST", f"/v1/vector_stores/{store_id}/files/{refunds}", {"attributes": {}}),
            ("GET", f"/v1/vector_stores/{store_id}/files/{refunds}/content", None),
            ("DELETE", f"/v1/vector_stores/{store_id}/files/{refunds}", None),
            ("POST", f"/v1/vector_stores/{store_id}/file_batches", {"file_ids": [refunds]}),
            ("GET", f"/v1/vector_stores/{store_id}/file_batches/{batch.id}", None),
            ("POST", f"/v1/vector_stores/{store_id}/file_batches/{batch.id}/cancel", None),
            ("GET", f"/v1/vector_stores/{store_id}/file_batches/{batch.id}/files", None),
            ("POST", "/v1/responses", {"model": MODEL, "input": ASK, "tools": [tool(store_id)]}),
        ]:
            answer = http.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert json.loads(answer.text)["error"]["type"] == "invalid_request_error"
        assert http.get("/v1/vector_stores").json()["data"] == []
    assert alice.vector_stores.retrieve(store_id).file_counts.total == 2
