"""Schemathesis over ingest's OpenAPI, against a real server, broker and database: whatever
the input, the answer is never a 5xx."""

import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from services.ingest.main import create_app
from services.ingest.settings import IngestSettings
from shared.auth import generate_dev_tokens
from shared.broker import EmbeddedBroker, free_port, port_open


@pytest.fixture(scope="module")
def ingest(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A real ingest server (uvicorn in a thread) and an operator token for it."""
    data = tmp_path_factory.mktemp("ingest-fuzz")
    token = generate_dev_tokens(data)["operator"]
    app = create_app(
        IngestSettings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            topic_prefix="fuzz",
            topic_partitions=1,
            data_dir=data,
            rate_limit_per_minute=100_000,
            rate_limit_burst=10_000,
            alertmanager_token="fuzz-alertmanager-secret-0123456789",
        )
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and port_open("127.0.0.1", port)):
        assert time.monotonic() < deadline, "ingest did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(timeout=10)


def test_no_input_makes_ingest_fail(ingest: tuple[str, str]) -> None:
    """Every operation, fuzzed from its schema (schemathesis strategies driven by hypothesis
    directly: schemathesis's pytest plugin does not run under pytest 9)."""
    url, token = ingest
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/incidents", "/v1/alerts/alertmanager"}
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        call()
    assert statuses
    assert max(statuses) < 500
