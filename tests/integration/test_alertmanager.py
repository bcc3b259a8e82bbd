"""Alertmanager webhook (v4) on a real broker: one incident per group, repeats ignored,
a storm of 1,000 notifications across 20 groups raising exactly 20 incidents."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.alertmanager import AlertMapping, AmWebhook, incident_from
from services.ingest.schemas import IncidentCreate
from shared.contract.events import IncidentRaised, IncidentResolved, IncidentUpdated, Severity
from shared.contract.topics import Topics
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import read_events, running_ingest

SECRET = "am-shared-secret-for-tests-0123456789"
AM = {"Authorization": f"Bearer {SECRET}"}


def alert(
    name: str, status: str = "firing", severity: str = "warning", **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {"summary": f"{name} is failing", "description": f"{name} needs a look"},
        "startsAt": "2026-11-21T13:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"fp-{name}-{sorted(labels.items())}",
    }


def notification(
    group: str, alerts: list[dict[str, Any]], status: str = "firing"
) -> dict[str, Any]:
    """A webhook body exactly as Alertmanager 0.27 sends it."""
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"warning|critical"}}:{{alertname="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "planb",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


@pytest.fixture
async def client(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    generate_dev_tokens(tmp_path)
    async with running_ingest(
        tmp_path, bootstrap_servers, topic_prefix, database_url, alertmanager_token=SECRET
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("starts_at", "rule"),
    [("2026-11-21T13:00:00", "timezone_aware"), ("9999-12-31T23:59:59-14:00", "value_error")],
)
async def test_a_start_without_offset_or_past_year_9999_is_a_422(
    client: httpx.AsyncClient, starts_at: str, rule: str
) -> None:
    """Found by the API fuzz test: the first was a 500 (the incident built from it failed);
    the second was accepted, and the router dead-lettered it, unable to store its start."""
    body = notification("Clock", [{**alert("Clock"), "startsAt": starts_at}])
    response = await client.post("/v1/alerts/alertmanager", headers=AM, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = [(e["field"], e["rule"]) for e in response.json()["errors"]]
    assert errors == [("body.alerts.0.startsAt", rule)]


def test_labels_map_to_severity_services_and_regions() -> None:
    payload = AmWebhook.model_validate(
        notification(
            "Checkout",
            [
                alert("Checkout", severity="warning", service="checkout", region="eu-west"),
                alert("Checkout", severity="CRITICAL", job="payments", region="us east"),
            ],
        )
    )
    incident = incident_from(payload, AlertMapping(), payload.alerts)
    assert incident.severity is Severity.SEV1
    assert incident.title == "Checkout is failing"
    assert incident.affected.services == ["checkout", "payments"]
    assert incident.affected.regions == ["eu-west", "us-east"]
    assert incident.external_ref == (
        'http://alertmanager:9093/#/alerts?filter={alertname="Checkout"}'
    )


def test_the_reference_names_the_group_without_a_link_when_none_fits() -> None:
    body = notification("Latency", [{**alert("Latency"), "annotations": {}}])
    body["groupLabels"] = {"cluster": "eu1", "alertname": "Latency", "service": "api"}

    def incident(**changes: str) -> IncidentCreate:
        payload = AmWebhook.model_validate({**body, **changes})
        return incident_from(payload, AlertMapping(), payload.alerts)

    linked, unlinked = incident(), incident(externalURL="")
    too_long = incident(externalURL="http://am/" + "x" * 200)

    group = '{alertname="Latency",cluster="eu1",service="api"}'
    assert linked.external_ref == f"http://alertmanager:9093/#/alerts?filter={group}"
    assert unlinked.external_ref == too_long.external_ref == f"alertmanager:{group}"
    assert linked.title == "Latency"  # no annotation gives one


async def test_firing_repeat_change_and_resolve(
    client: httpx.AsyncClient, bootstrap_servers: str, topic_prefix: str
) -> None:
    one = [alert("DiskFull", instance="a")]
    first = await client.post(
        "/v1/alerts/alertmanager", headers=AM, json=notification("DiskFull", one)
    )
    repeat = await client.post(
        "/v1/alerts/alertmanager", headers=AM, json=notification("DiskFull", one)
    )
    two = [*one, alert("DiskFull", severity="critical", instance="b")]
    grown = await client.post(
        "/v1/alerts/alertmanager", headers=AM, json=notification("DiskFull", two)
    )
    resolved_alerts = [{**a, "status": "resolved"} for a in two]
    resolved = await client.post(
        "/v1/alerts/alertmanager",
        headers=AM,
        json=notification("DiskFull", resolved_alerts, "resolved"),
    )
    late = await client.post(
        "/v1/alerts/alertmanager",
        headers=AM,
        json=notification("DiskFull", resolved_alerts, "resolved"),
    )
    assert [r.status_code for r in (first, repeat, grown, resolved, late)] == [202] * 5
    assert [r.json()["status"] for r in (first, repeat, grown, resolved, late)] == [
        "accepted",
        "unchanged",
        "accepted",
        "accepted",
        "unchanged",
    ]
    incident_id = first.json()["incident_id"]
    assert {r.json()["incident_id"] for r in (repeat, grown, resolved, late)} == {incident_id}
    raised, updated, closed = await read_events(
        bootstrap_servers, Topics(topic_prefix).incidents, 3
    )
    assert isinstance(raised.data, IncidentRaised)
    assert raised.data.severity is Severity.SEV3
    assert isinstance(updated.data, IncidentUpdated)
    assert updated.data.severity is Severity.SEV1  # escalated by the critical alert
    assert isinstance(closed.data, IncidentResolved)
    refire = await client.post(
        "/v1/alerts/alertmanager", headers=AM, json=notification("DiskFull", one)
    )
    assert refire.json()["incident_id"] != incident_id  # a new incident after resolution


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, notification("X", [alert("X")]), 401),
        ({"Authorization": "Bearer wrong"}, notification("X", [alert("X")]), 401),
        (AM, {**notification("X", [alert("X")]), "version": "3"}, 422),
        (AM, {**notification("X", [alert("X")]), "alerts": []}, 422),
        (AM, {"groupKey": "x"}, 422),
    ],
)
async def test_refusals(
    client: httpx.AsyncClient, headers: dict[str, str], body: Any, status: int
) -> None:
    response = await client.post("/v1/alerts/alertmanager", headers=headers, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_storm_of_1000_notifications_across_20_groups_raises_exactly_20_incidents(
    client: httpx.AsyncClient, bootstrap_servers: str, topic_prefix: str
) -> None:
    gate = asyncio.Semaphore(16)

    async def send(i: int) -> httpx.Response:
        group = f"Group{i % 20}"
        # each group's alert set grows twice during the storm; everything else repeats
        alerts = [alert(group, instance=f"host{j}") for j in range(min(3, 1 + i // 300))]
        async with gate:
            return await client.post(
                "/v1/alerts/alertmanager", headers=AM, json=notification(group, alerts)
            )

    responses = await asyncio.gather(*(send(i) for i in range(1000)))
    assert Counter(r.status_code for r in responses) == {202: 1000}
    incident_of_group: dict[str, set[str]] = {}
    for i, response in enumerate(responses):
        incident_of_group.setdefault(f"Group{i % 20}", set()).add(response.json()["incident_id"])
    assert len(incident_of_group) == 20
    assert all(len(ids) == 1 for ids in incident_of_group.values())
    statuses = Counter(r.json()["status"] for r in responses)
    # queued: behind an earlier event of the same incident still on its way (the relay
    # keeps their order); on the topic shortly after, like the accepted ones
    sent = statuses["accepted"] + statuses["queued"]
    events = await read_events(bootstrap_servers, Topics(topic_prefix).incidents, sent)
    raised = [e for e in events if isinstance(e.data, IncidentRaised)]
    assert len(raised) == 20
    assert len(events) == sent
    assert len({e.id for e in events}) == sent
    # 20 raises + 2 growth steps per group = 60 changes in order; concurrent requests may
    # reorder a few around the growth steps (each such swap is a real change of the firing
    # set, so another update). Without deduplication "unchanged" would be 0.
    assert statuses["unchanged"] >= 800
