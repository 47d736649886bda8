"""Web search: results become `web_search_call` items, answers carry `url_citation` annotations,
and the backends (SearXNG, Tavily, Brave) are reached through a local fake search server."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.tools.events import event_order, stream_events
from tests.tools.fake_search import PAGES, FakeSearch
from threadline.tools.base import SearchQuery, ToolFailure
from threadline.tools.web_search.brave import BraveSearch
from threadline.tools.web_search.tavily import TavilySearch

SEARCH = 'call web_search {"query": "dice rules"}'


def test_search_results_become_a_call_item_and_cited_annotations(
    tools_client: openai.OpenAI, fake: FakeUpstream
) -> None:
    response = tools_client.responses.create(
        model=MODEL, input=SEARCH, tools=[{"type": "web_search"}]
    )

    call, answer = response.output
    assert call.type == "web_search_call" and call.id.startswith("ws_")
    assert call.status == "completed"
    assert call.action.type == "search" and call.action.query == "dice rules"  # type: ignore[union-attr]
    urls = [source.url for source in call.action.sources or []]  # type: ignore[union-attr]
    assert urls == [url for url, _, _ in PAGES[:5]]  # medium context: five results
    # The fake model repeats the tool result, which lists the URLs: each becomes a citation.
    assert answer.type == "message"
    text = answer.content[0]
    annotations = text.annotations  # type: ignore[union-attr]
    assert [a.url for a in annotations] == urls  # type: ignore[union-attr]
    first = annotations[0]
    assert first.type == "url_citation" and first.title == "Dice rules"  # type: ignore[union-attr]
    assert text.text[first.start_index : first.end_index] == urls[0]  # type: ignore[union-attr]
    # The model saw web_search as a function, then numbered results with snippets.
    result = fake.last_request()["body"]["messages"][-1]
    assert result["role"] == "tool" and "[1] Dice rules" in result["content"]
    assert PAGES[0][2] in result["content"]


def test_streamed_search_follows_openai_event_order(tools_http: httpx.Client) -> None:
    events = stream_events(
        tools_http, {"model": MODEL, "input": SEARCH, "tools": [{"type": "web_search"}]}
    )
    assert event_order(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        *["response.output_text.annotation.added"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    annotations = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [a["annotation_index"] for a in annotations] == list(range(5))
    final = events[-1]["response"]["output"][1]["content"][0]["annotations"]
    assert final == [a["annotation"] for a in annotations]


def test_allowed_domains_keep_only_their_results(
    tools_client: openai.OpenAI, search: FakeSearch
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input=SEARCH,
        tools=[{"type": "web_search", "filters": {"allowed_domains": ["docs.example.org"]}}],
    )
    sources = response.output[0].action.sources  # type: ignore[union-attr]
    assert [s.url for s in sources] == [
        "https://docs.example.org/dice",
        "https://docs.example.org/d20",
    ]
    assert search.requests[-1]["query"]["q"] == "dice rules site:docs.example.org"


def test_search_context_size_sets_how_many_results_the_model_reads(
    tools_client: openai.OpenAI,
) -> None:
    sizes = {}
    for size in ("low", "high"):
        response = tools_client.responses.create(
            model=MODEL,
            input=SEARCH,
            tools=[{"type": "web_search", "search_context_size": size}],
        )
        sizes[size] = len(response.output[0].action.sources)  # type: ignore[union-attr]
    assert sizes == {"low": 3, "high": 6}


def test_failed_search_is_told_to_the_model(tools_client: openai.OpenAI) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input='call web_search {"query": "explode"}',
        tools=[{"type": "web_search"}],
    )
    assert response.status == "completed"
    assert response.output[0].status == "failed"  # type: ignore[union-attr]
    assert response.output_text.startswith("tool said: The web search failed")


def test_search_replays_on_the_next_turn(tools_client: openai.OpenAI, fake: FakeUpstream) -> None:
    first = tools_client.responses.create(model=MODEL, input=SEARCH, tools=[{"type": "web_search"}])
    tools_client.responses.create(model=MODEL, input="thanks", previous_response_id=first.id)
    messages = fake.last_request()["body"]["messages"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "web_search"
    assert messages[2]["role"] == "tool" and PAGES[0][0] in messages[2]["content"]


def test_without_a_backend_web_search_is_a_400_saying_how_to_configure_one(
    http: httpx.Client,
) -> None:
    response = http.post(
        "/v1/responses", json={"model": MODEL, "input": "x", "tools": [{"type": "web_search"}]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tools[0].type"
    assert "THREADLINE_WEB_SEARCH_BACKEND" in error["message"]


async def test_tavily_backend_sends_the_key_and_the_domain_filter(search: FakeSearch) -> None:
    backend = TavilySearch("tv-key", base_url=search.url, timeout=5)
    try:
        results = await backend.search(
            SearchQuery(
                "dice", max_results=2, allowed_domains=("example.com",), context_size="high"
            )
        )
    finally:
        await backend.aclose()
    assert [r.url for r in results] == [
        "https://dice.example.com/rules",
        "https://blog.example.com/luck",
    ]
    sent = search.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer tv-key"
    assert sent["query"]["include_domains"] == ["example.com"]
    assert sent["query"]["search_depth"] == "advanced"


async def test_brave_backend_reads_plain_text_and_sends_the_country(search: FakeSearch) -> None:
    backend = BraveSearch("br-key", base_url=search.url, timeout=5)
    try:
        results = await backend.search(SearchQuery("dice", max_results=3, country="FR"))
    finally:
        await backend.aclose()
    assert results[0].title == "Dice rules"
    assert results[0].snippet == "How to read 2d4+1 and other dice. & more"
    sent = search.requests[-1]
    assert sent["headers"]["x-subscription-token"] == "br-key"
    assert (sent["query"]["country"], sent["query"]["count"]) == ("fr", "3")


async def test_a_backend_error_is_a_tool_failure(search: FakeSearch) -> None:
    backend = TavilySearch("k", base_url=search.url, timeout=5)
    try:
        with pytest.raises(ToolFailure) as raised:
            await backend.search(SearchQuery("explode", max_results=3))
    finally:
        await backend.aclose()
    assert raised.value.code == 500


def test_failed_search_events_match_the_spec_schema(tools_http: httpx.Client) -> None:
    events = stream_events(
        tools_http,
        {
            "model": MODEL,
            "input": 'call web_search {"query": "explode"}',
            "tools": [
                {"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}
            ],
        },
    )
    call = events[-1]["response"]["output"][0]
    assert call["status"] == "failed"
    assert "response.web_search_call.completed" not in [e["type"] for e in events]
