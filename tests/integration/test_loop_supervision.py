"""A service's loops under supervision, in a real ingest on a real broker and database: a
fault injected into the outbox relay's work crashes the loop; it is started again and sends
what waited, or, crashing on, is given up and /healthz fails naming it and why.

The fault goes in through the relay's `on_sent` hook (told of every acknowledged batch), the
one place a test can make the running loop itself raise something it does not expect."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from shared.contract.events import AuditRecorded, CloudEvent
from shared.contract.topics import Topics
from shared.runtime.database import OutboxEntry
from shared.runtime.outbox import add_to_outbox
from shared.runtime.service import Runtime
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import read_events, running_ingest
from tests.support import eventually

RESTARTS = {"loop_restart_limit": 2, "loop_restart_backoff_seconds": 0.01}


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def stage(runtime: Runtime, topic: str, subject: str) -> CloudEvent:
    """An event in the outbox, as any transaction of the service leaves one."""
    data = AuditRecorded(
        actor="test", action="poke", entity_type="thing", entity_id=subject, at=datetime.now(UTC)
    )
    event = CloudEvent.wrap(data, source="/tests", subject=subject)
    async with runtime.database.transaction() as session:
        add_to_outbox(session, topic=topic, key=subject, event=event, wake=runtime.relay.wake)
    return event


def inject(runtime: Runtime, faults: int) -> list[int]:
    """The relay's next `faults` acknowledged batches crash it; returns the crash count."""
    crashes: list[int] = []

    def on_sent(_rows: Sequence[OutboxEntry]) -> None:
        if len(crashes) < faults:
            crashes.append(1)
            raise RuntimeError(f"fault injected into the relay ({len(crashes)})")

    runtime.relay.on_sent = on_sent
    return crashes


async def loops(client: httpx.AsyncClient) -> dict[str, Any]:
    ready = (await client.get("/readyz")).json()
    loops: dict[str, Any] = ready["checks"]["loops"]["detail"]["loops"]
    return loops


async def test_a_crashed_relay_is_restarted_and_sends_what_waited(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> None:
    topic = Topics(topic_prefix).audit
    generate_dev_tokens(tmp_path)
    async with running_ingest(
        tmp_path, bootstrap_servers, topic_prefix, database_url, **RESTARTS
    ) as ingest:
        runtime = runtime_of(ingest)
        crashes = inject(runtime, faults=2)  # within the limit
        event = await stage(runtime, topic, "waiting")

        async def drained() -> bool:
            return await runtime.relay.depth() == 0

        await eventually(drained, what="the outbox drained by the restarted relay")
        relay = (await loops(ingest))["outbox-relay"]
        health = await ingest.get("/healthz")
    assert len(crashes) == 2
    assert relay["state"] == "running"
    assert relay["restarts"] == 2
    assert relay["last_crash"] == "RuntimeError: fault injected into the relay (2)"
    assert relay["last_round_at"] is not None
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    events = await read_events(bootstrap_servers, topic, 1)
    assert event.id in {e.id for e in events}  # sent again after each crash: at least once


async def test_a_relay_that_keeps_crashing_fails_healthz_with_its_reason(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> None:
    generate_dev_tokens(tmp_path)
    async with running_ingest(
        tmp_path, bootstrap_servers, topic_prefix, database_url, **RESTARTS
    ) as ingest:
        runtime = runtime_of(ingest)
        crashes = inject(runtime, faults=1_000)
        await stage(runtime, Topics(topic_prefix).audit, "stuck")

        async def failing() -> httpx.Response | None:
            response = await ingest.get("/healthz")
            return response if response.status_code == 503 else None

        health = await eventually(failing, what="/healthz failing")
        ready = await ingest.get("/readyz")
        relay = (await loops(ingest))["outbox-relay"]
    assert len(crashes) == RESTARTS["loop_restart_limit"] + 1
    assert health.json() == {
        "status": "failing",
        "failed": {"outbox-relay": "RuntimeError: fault injected into the relay (3)"},
    }
    assert relay["state"] == "failed"
    # still taking incidents (into the outbox): ready, degraded, and saying why
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    assert ready.json()["checks"]["loops"]["detail"]["status"] == "degraded: outbox-relay crashed"
