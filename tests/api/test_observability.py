"""What an operator watches: /healthz, /readyz, /metrics, and the API's own docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from threadline.api.metrics import BoundedLabel, Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json()["status"] == "ok"
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}


def test_the_server_serves_its_openapi_document_and_interactive_docs(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    assert "/v1/responses" in document["paths"] and "/v1/conversations" in document["paths"]
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui"), ("/redoc", "redoc")])
def test_the_docs_pages_load_only_assets_this_server_serves(
    http: httpx.Client, page: str, script: str
) -> None:
    html = http.get(page).text
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references and any(script in r for r in references), html
    assert "http" not in " ".join(references)  # nothing from a CDN, nor fonts
    for reference in references:
        asset = http.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 1000
        if reference.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]


def test_the_openapi_document_describes_the_errors_sent_and_the_bearer_key(
    http: httpx.Client,
) -> None:
    document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"Response", "Conversation", "ItemList", "ErrorResponse"} <= set(schemas)
    assert "HTTPValidationError" not in schemas
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            assert responses["400"]["content"]["application/json"]["schema"] == error
            assert operation["security"] == [{"bearer": []}]
            assert responses["200"].get("content"), (method, path)
    created = document["paths"]["/v1/responses"]["post"]["responses"]
    assert created["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Response"
    }
    assert {"404", "409", "413", "429"} <= set(created)


def test_requests_are_counted_by_route_template_never_by_raw_path(http: httpx.Client) -> None:
    before = _scrape(http)
    for missing in ("resp_first_missing", "resp_second_missing"):
        assert http.get(f"/v1/responses/{missing}").status_code == 404
    assert http.get("/no/such/path/123").status_code == 404
    after = _scrape(http)

    labels = {"method": "GET", "route": "/v1/responses/{response_id}", "status": "404"}
    name = "threadline_http_requests_total"
    assert _value(after, name, **labels) - _value(before, name, **labels) == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _value(after, name, **unmatched) - _value(before, name, **unmatched) == 1
    text = http.get("/metrics").text
    assert "resp_first_missing" not in text and "/no/such/path" not in text
    duration = "threadline_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/v1/responses/{response_id}"}
    assert _value(after, duration, **route) >= 2


def test_turns_record_upstream_latency_tokens_and_outcome(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    before = _scrape(http)
    client.responses.create(model=MODEL, input="count these four words")
    with client.responses.stream(model=MODEL, input="and these three") as stream:
        stream.until_done()
    after = _scrape(http)

    labels = {"provider": "openai", "model": MODEL}

    def grew(name: str, **extra: str) -> float:
        return _value(after, name, **labels, **extra) - _value(before, name, **labels, **extra)

    assert grew("threadline_upstream_requests_total", outcome="stop") == 2
    assert grew("threadline_upstream_request_duration_seconds_count") == 2
    assert grew("threadline_upstream_first_token_seconds_count") == 2
    assert grew("threadline_tokens_total", direction="input") == 4 + 3
    assert grew("threadline_tokens_total", direction="output") == 5 + 4  # "echo: " + words
    assert _value(after, "threadline_upstream_in_flight", provider="openai") == 0


def test_failures_are_counted_by_error_code(http: httpx.Client, client: openai.OpenAI) -> None:
    client.responses.create(model=MODEL, input="hi")  # answered once: a label value from now on
    before = _scrape(http)
    with pytest.raises(openai.APIStatusError):
        client.responses.create(model=MODEL, input="fail 500")
    assert http.post("/v1/responses", json={"model": MODEL, "temperature": 9}).status_code == 400
    after = _scrape(http)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    upstream = {"provider": "openai", "model": MODEL}
    assert grew("threadline_upstream_requests_total", **upstream, outcome="error") >= 1
    codes = {
        dict(labels)["code"]
        for (name, labels), value in after.items()
        if name == "threadline_upstream_errors_total" and value > before.get((name, labels), 0)
    }
    assert codes, "no upstream error was counted"
    http_errors = {
        (dict(labels)["status"], dict(labels)["code"])
        for (name, labels), value in after.items()
        if name == "threadline_http_errors_total" and value > before.get((name, labels), 0)
    }
    assert any(status.startswith("5") for status, _ in http_errors)
    assert any(status == "400" for status, _ in http_errors)


@pytest.fixture
def small_bodies(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    env = {"THREADLINE_MAX_REQUEST_BYTES": "2000"}
    with LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env) as live:
        yield live


def test_a_body_refused_before_routing_is_counted_under_its_route(
    small_bodies: LiveServer,
) -> None:
    with httpx.Client(base_url=small_bodies.url, timeout=30) as http:
        refused = http.post("/v1/responses", json={"model": MODEL, "input": "x" * 5000})
        assert refused.status_code == 413
        samples = _scrape(http)
    labels = {"method": "POST", "route": "/v1/responses", "status": "413"}
    assert _value(samples, "threadline_http_requests_total", **labels) == 1
    assert _value(samples, "threadline_http_errors_total", status="413", code="payload_too_large")


def test_caller_chosen_label_values_are_capped() -> None:
    label = BoundedLabel(limit=2)
    assert [label(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_model_names_the_provider_refuses_or_too_long_mint_no_series(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    long_name = "m" * 101
    for model in ("missing-model", long_name):
        with pytest.raises(openai.APIStatusError):
            client.responses.create(model=model, input="fail 500")
    client.responses.create(model=long_name, input="hi")  # answered, yet too long for a label
    scrape = http.get("/metrics").text
    assert "missing-model" not in scrape
    assert long_name not in scrape
    samples = _scrape(http)
    refused = {"provider": "openai", "model": "other", "code": "model_not_found"}
    assert _value(samples, "threadline_upstream_errors_total", **refused) >= 1


def test_each_metric_keeps_a_bounded_number_of_series() -> None:
    metrics = Metrics()
    for i in range(5000):
        metrics.http_errors_of("400", f"code{i}").inc()
    exposition = metrics.exposition().decode()
    series = [line for line in exposition.splitlines() if line.startswith("threadline_http_err")]
    assert len(series) <= 2001
    assert 'threadline_http_errors_total{code="other",status="other"} 3000.0' in exposition


@pytest.fixture
def guarded_metrics(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    env = {"THREADLINE_METRICS_TOKEN": "scrape-secret"}
    with LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env) as live:
        yield live


def test_metrics_need_the_token_when_one_is_set(guarded_metrics: LiveServer) -> None:
    with httpx.Client(base_url=guarded_metrics.url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert "metrics_token" in refused.json()["error"]["message"]
        allowed = http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200
    assert "threadline_http_requests_total" in allowed.text
