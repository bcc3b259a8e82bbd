"""Ingest's API in-process on a real broker and database: validation, auth, the event."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.ingest.main import create_app
from services.ingest.settings import IngestSettings
from shared.auth import generate_dev_tokens
from shared.events import IncidentRaised, IncidentResolved, parse_event
from shared.topics import Topics
from tests.support import eventually


@pytest.fixture
async def ingest(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    tokens = generate_dev_tokens(tmp_path)
    settings = IngestSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        topic_partitions=1,
        data_dir=tmp_path,
        database_url=database_url,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client, tokens


def bearer(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


async def test_an_incident_reaches_kafka_before_202(
    ingest: tuple[httpx.AsyncClient, dict[str, str]], bootstrap_servers: str, topic_prefix: str
) -> None:
    client, tokens = ingest
    response = await client.post(
        "/v1/incidents",
        headers=bearer(tokens, "operator"),
        json={
            "title": "Lifts out of order",
            "severity": "sev3",
            "affected": {"regions": ["north"]},
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    resolved = await client.post(
        f"/v1/incidents/{body['incident_id']}/updates",
        headers=bearer(tokens, "admin"),
        json={"status": "resolved", "message": "Lifts work again."},
    )
    assert resolved.status_code == 202

    consumer = AIOKafkaConsumer(
        Topics(topic_prefix).incidents,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    events = []
    try:

        async def two_events() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                events.extend(parse_event(r.value) for r in records)
            return len(events) >= 2

        await eventually(two_events, what="both events on the incidents topic")
    finally:
        await consumer.stop()
    first, second = events
    assert isinstance(first.data, IncidentRaised)
    assert first.id == body["event_id"]
    assert first.data.incident_id == body["incident_id"]
    assert first.data.raised_by == "dev-operator"
    assert first.data.affected.regions == ["north"]
    assert isinstance(second.data, IncidentResolved)
    assert second.data.message == "Lifts work again."


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"severity": "sev1"}, "body.title", "missing"),
        ({"title": "", "severity": "sev1"}, "body.title", "string_too_short"),
        ({"title": "x" * 201, "severity": "sev1"}, "body.title", "string_too_long"),
        ({"title": "Down", "severity": "sev9"}, "body.severity", "enum"),
        (
            {"title": "Down", "severity": "sev1", "status": "resolved"},
            "body.status",
            "literal_error",
        ),
        ({"title": "Down", "severity": "sev1", "colour": "red"}, "body.colour", "extra_forbidden"),
        (
            {"title": "Down", "severity": "sev1", "next_update_in_minutes": 0},
            "body.next_update_in_minutes",
            "greater_than_equal",
        ),
    ],
)
async def test_invalid_incidents_get_a_problem_naming_the_field(
    ingest: tuple[httpx.AsyncClient, dict[str, str]], body: dict[str, object], field: str, rule: str
) -> None:
    client, tokens = ingest
    response = await client.post("/v1/incidents", headers=bearer(tokens, "operator"), json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in problem["errors"]
    ]


async def test_malformed_json_is_a_400_problem(
    ingest: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, tokens = ingest
    response = await client.post(
        "/v1/incidents",
        headers={**bearer(tokens, "operator"), "Content-Type": "application/json"},
        content=b'{"title": "Down",',
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ("marketing", 403),
        ("duty_manager", 403),
    ],
)
async def test_only_operators_and_admins_raise_incidents(
    ingest: tuple[httpx.AsyncClient, dict[str, str]], headers: dict[str, str] | str, status: int
) -> None:
    client, tokens = ingest
    sent = bearer(tokens, headers) if isinstance(headers, str) else headers
    response = await client.post(
        "/v1/incidents", headers=sent, json={"title": "Down", "severity": "sev1"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_ready_and_metrics(ingest: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, _ = ingest
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["kafka"]["ok"] is True
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    metrics = await client.get("/metrics")
    assert "planb_http_requests_total" in metrics.text
