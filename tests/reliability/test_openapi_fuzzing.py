"""Schema-driven fuzzing of every endpoint in our own OpenAPI document: no 5xx.

schemathesis generates the requests from /openapi.json; its pytest plugin does not run under
pytest 9 yet, so each operation's hypothesis strategy is driven directly.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.live_server import LiveServer


def test_no_endpoint_answers_a_server_error(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    statuses: list[int] = []

    for operation in operations:

        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, timeout=30)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
    assert len(statuses) >= 5 * len(operations)
    assert any(200 <= status < 300 for status in statuses)
