"""Ingest's group commit: requests that arrive while a transaction is under way share the
next one, and each still gets the answer it would have had alone.

Each test holds the writer inside a transaction of its own (a job that waits on a gate), so
the requests sent meanwhile queue up and are run together in the next batch once it opens.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.group_commit import GroupCommit
from shared.contract.events import CloudEvent, IncidentRaised, IncidentResolved, IncidentUpdated
from shared.contract.topics import Topics
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import read_events, running_ingest
from tests.support import eventually

OK = {"title": "Lifts out of order", "severity": "sev3"}
SECRET = "am-shared-secret-for-tests-0123456789"


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    return generate_dev_tokens(tmp_path)


@pytest.fixture
async def client(
    tmp_path: Path,
    tokens: dict[str, str],
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_ingest(
        tmp_path, bootstrap_servers, topic_prefix, database_url, alertmanager_token=SECRET
    ) as running:
        yield running


def writer_of(client: httpx.AsyncClient) -> GroupCommit:
    writer: GroupCommit = client.app.state.intake.writer  # type: ignore[attr-defined]
    return writer


@asynccontextmanager
async def one_batch(client: httpx.AsyncClient) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Hold the writer until the block ends; yields `queued(n)`, which waits until `n` jobs
    wait for the next batch."""
    writer = writer_of(client)
    gate, inside = asyncio.Event(), asyncio.Event()

    async def hold(_session: AsyncSession) -> None:
        inside.set()
        await gate.wait()

    holding = asyncio.create_task(writer.run(hold))
    await inside.wait()

    async def queued(count: int) -> None:
        await eventually(
            lambda: asyncio.sleep(0, writer.waiting >= count), what=f"{count} jobs queued"
        )

    try:
        yield queued
    finally:
        gate.set()
        await holding


def bearer(tokens: dict[str, str], role: str = "operator") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def batch_sizes(metrics: str) -> tuple[float, float]:
    """(batches of at most 16 requests, all batches) from ingest's histogram."""
    lines = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#")
    )
    return (
        float(lines['planb_ingest_commit_batch_requests_bucket{le="16.0"}']),
        float(lines["planb_ingest_commit_batch_requests_count"]),
    )


async def all_events(bootstrap_servers: str, topic_prefix: str, count: int) -> list[CloudEvent]:
    return await read_events(bootstrap_servers, Topics(topic_prefix).incidents, count)


async def test_concurrent_requests_share_one_commit_and_all_reach_kafka(
    client: httpx.AsyncClient, tokens: dict[str, str], bootstrap_servers: str, topic_prefix: str
) -> None:
    async with one_batch(client) as queued:
        posts = [
            asyncio.create_task(client.post("/v1/incidents", headers=bearer(tokens), json=OK))
            for _ in range(40)
        ]
        await queued(40)
    answers = await asyncio.gather(*posts)
    assert {a.status_code for a in answers} == {202}
    assert {a.json()["status"] for a in answers} == {"accepted"}
    small, batches = batch_sizes((await client.get("/metrics")).text)
    assert small < batches, "the 40 requests were not committed together"
    events = await all_events(bootstrap_servers, topic_prefix, 40)
    assert sorted(e.id for e in events) == sorted(a.json()["event_id"] for a in answers)


async def test_a_refused_request_leaves_its_batch_mates_accepted(
    client: httpx.AsyncClient, tokens: dict[str, str], bootstrap_servers: str, topic_prefix: str
) -> None:
    closed = (await client.post("/v1/incidents", headers=bearer(tokens), json=OK)).json()
    resolve = {"status": "resolved", "message": "Fixed."}
    path = f"/v1/incidents/{closed['incident_id']}/updates"
    assert (await client.post(path, headers=bearer(tokens), json=resolve)).status_code == 202
    keyed = {**bearer(tokens), "Idempotency-Key": "used-once"}
    assert (await client.post("/v1/incidents", headers=keyed, json=OK)).status_code == 202
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("/v1/incidents", bearer(tokens), OK),
        ("/v1/incidents/inc_00000000000000000000/updates", bearer(tokens), resolve),  # 404
        ("/v1/incidents", bearer(tokens), OK),
        (path, bearer(tokens), {"status": "monitoring"}),  # 409: resolved
        ("/v1/incidents", bearer(tokens), OK),
        ("/v1/incidents", keyed, {**OK, "severity": "sev1"}),  # 422: key reused
        ("/v1/incidents", bearer(tokens), OK),
    ]
    async with one_batch(client) as queued:
        posts = []
        for n, (url, headers, body) in enumerate(requests, start=1):
            posts.append(asyncio.create_task(client.post(url, headers=headers, json=body)))
            await queued(n)
    answers = await asyncio.gather(*posts)
    assert [a.status_code for a in answers] == [202, 404, 202, 409, 202, 422, 202]
    for refused in (answers[1], answers[3], answers[5]):
        assert refused.headers["content-type"] == "application/problem+json"
    accepted = [a.json() for a in answers if a.status_code == 202]
    assert {a["status"] for a in accepted} == {"accepted"}
    events = await all_events(bootstrap_servers, topic_prefix, 3 + len(accepted))
    sent = {e.id for e in events}
    assert all(a["event_id"] in sent for a in accepted)
    assert len(events) == 3 + len(accepted), "a refused request sent an event"


async def test_idempotent_twins_in_one_batch_send_one_event_and_answer_alike(
    client: httpx.AsyncClient, tokens: dict[str, str], bootstrap_servers: str, topic_prefix: str
) -> None:
    headers = {**bearer(tokens), "Idempotency-Key": "twins-1"}
    async with one_batch(client) as queued:
        twins = [
            asyncio.create_task(client.post("/v1/incidents", headers=headers, json=OK))
            for _ in range(5)
        ]
        await queued(5)
    answers = [a.json() for a in await asyncio.gather(*twins)]
    assert all(a == answers[0] for a in answers), answers
    assert answers[0]["status"] == "accepted"
    later = await client.post("/v1/incidents", headers=bearer(tokens), json=OK)
    replay = await client.post("/v1/incidents", headers=headers, json=OK)
    assert replay.json() == answers[0]
    events = await all_events(bootstrap_servers, topic_prefix, 2)
    assert [e.data.incident_id for e in events].count(answers[0]["incident_id"]) == 1  # type: ignore[attr-defined]
    assert later.json()["event_id"] in {e.id for e in events}


def alert(name: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": "warning", "region": "north"},
        "annotations": {"summary": f"{name} is failing"},
        "startsAt": "2026-11-21T13:00:00Z",
        "fingerprint": f"fp-{name}",
    }


def notification(alerts: list[dict[str, Any]], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="Order"}',
        "status": status,
        "receiver": "planb",
        "alerts": [{**a, "status": status} for a in alerts],
    }


async def test_an_incidents_events_keep_their_order_within_and_across_batches(
    client: httpx.AsyncClient, tokens: dict[str, str], bootstrap_servers: str, topic_prefix: str
) -> None:
    am = {"Authorization": f"Bearer {SECRET}"}
    bodies = [
        notification([alert("A")]),  # raises the group's incident
        notification([alert("A"), alert("B")]),  # updates it
        notification([alert("A"), alert("B"), alert("C")]),  # again
    ]
    async with one_batch(client) as queued:
        posts = []
        for n, body in enumerate(bodies, start=1):
            posts.append(
                asyncio.create_task(client.post("/v1/alerts/alertmanager", headers=am, json=body))
            )
            await queued(n)
    answers = [a.json() for a in await asyncio.gather(*posts)]
    incident = answers[0]["incident_id"]
    assert [a["incident_id"] for a in answers] == [incident] * 3
    path = f"/v1/incidents/{incident}/updates"
    follow_ups = [
        asyncio.create_task(
            client.post(
                path, headers=bearer(tokens), json={"status": "identified", "message": f"{n}"}
            )
        )
        for n in range(10)
    ]
    await asyncio.gather(*follow_ups)  # their own batches, some sent while others are in flight
    resolved = notification([alert("A")], status="resolved")
    assert (
        await client.post("/v1/alerts/alertmanager", headers=am, json=resolved)
    ).status_code == 202
    events = await all_events(bootstrap_servers, topic_prefix, 14)
    kinds = [type(e.data) for e in events]
    assert kinds[0] is IncidentRaised
    assert kinds[-1] is IncidentResolved
    assert kinds[1:-1] == [IncidentUpdated] * 12
    assert [e.id for e in events[:3]] == [a["event_id"] for a in answers]
    assert sorted(e.data.message for e in events[3:13]) == [f"{n}" for n in range(10)]  # type: ignore[attr-defined]


async def test_a_group_raised_resolved_and_raised_again_in_one_batch(
    client: httpx.AsyncClient, bootstrap_servers: str, topic_prefix: str
) -> None:
    am = {"Authorization": f"Bearer {SECRET}"}
    bodies = [
        notification([alert("A")]),
        notification([alert("A")]),  # a repeat: unchanged
        notification([alert("A")], status="resolved"),
        notification([alert("B")]),  # the group fires again: a new incident
        notification([alert("B"), alert("C")]),  # which it updates
    ]
    async with one_batch(client) as queued:
        posts = []
        for n, body in enumerate(bodies, start=1):
            posts.append(
                asyncio.create_task(client.post("/v1/alerts/alertmanager", headers=am, json=body))
            )
            await queued(n)
    answers = [a.json() for a in await asyncio.gather(*posts)]
    # an event behind another of its incident in the same batch goes by the relay: `queued`
    assert [a["status"] for a in answers] == [
        "accepted",
        "unchanged",
        "queued",
        "accepted",
        "queued",
    ]
    first, second = answers[0]["incident_id"], answers[3]["incident_id"]
    assert first != second
    assert [a["incident_id"] for a in answers] == [first, first, first, second, second]
    events = await all_events(bootstrap_servers, topic_prefix, 4)

    def of(incident: str) -> list[type]:  # in order per incident (its partition's)
        return [type(e.data) for e in events if e.subject == incident]

    assert of(first) == [IncidentRaised, IncidentResolved]
    assert of(second) == [IncidentRaised, IncidentUpdated]
