"""The worst day at the router: an alert storm's incident events produced straight onto
planb.incidents by a bare producer (no ingest), as fast as the broker takes them.

1,000 incidents (300 with --quick), each raised and then updated 9 times: 10,000 events
(3,000). A tenth are sev2 (every one of the 10 channels paused), the rest sev3 with a region
(its 2 channels). Figures: per incident, from its `raised` being handed to the producer to
the last of its `channel paused` records read back from planb.outbound (committed by the
router and relayed); incident events handled per second (every event in the router's inbox);
and how many drafts the drafting job wrote for the storm, and when it caught up.
"""

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import func, select

from bench.start import running_system
from bench.stats import summarise
from bench.system import REGIONS, Bench, System, channels
from services.router.models import Draft, Incident
from shared.contract.events import (
    Affected,
    CloudEvent,
    IncidentRaised,
    IncidentStatus,
    IncidentUpdated,
    Severity,
    utcnow,
)
from shared.runtime.database import Database, InboxEntry
from shared.runtime.kafka import EventProducer

DUMMY_URL = "http://127.0.0.1:9/none"  # the publisher is not running here
UPDATES = 9
CHUNK = 500


def _events(n: int) -> tuple[list[tuple[str, CloudEvent]], dict[str, Severity]]:
    """Each incident's `raised` and then its updates, incident after incident: (incident id,
    event) in send order; and each incident's severity."""
    severities: dict[str, Severity] = {}
    events: list[tuple[str, CloudEvent]] = []
    now = utcnow()
    for i in range(n):
        incident_id = f"inc_bench_{uuid.uuid4().hex[:12]}"
        severity = Severity.SEV2 if i % 10 == 0 else Severity.SEV3
        severities[incident_id] = severity
        raised = IncidentRaised(
            incident_id=incident_id,
            title=f"Alert group g{i} firing",
            severity=severity,
            affected=Affected(regions=[REGIONS[i % len(REGIONS)]]),
            started_at=now,
            raised_by="alertmanager",
            raised_at=now,
        )
        events.append((incident_id, _wrap(raised, incident_id)))
        for u in range(UPDATES):
            update = IncidentUpdated(
                incident_id=incident_id,
                status=IncidentStatus.IDENTIFIED,
                message=f"Notification {u + 1} for group g{i}",
                updated_by="alertmanager",
                updated_at=now,
            )
            events.append((incident_id, _wrap(update, incident_id)))
    return events, severities


def _wrap(data: IncidentRaised | IncidentUpdated, incident_id: str) -> CloudEvent:
    return CloudEvent.wrap(data, source="/bench/router", subject=incident_id)


def _expected(system: System, severity: Severity, i: int) -> int:
    """How many channels the i-th incident pauses."""
    if severity is Severity.SEV2:
        return len(system.channels)
    region = REGIONS[i % len(REGIONS)]
    return sum(1 for c in system.channels if c.region == region)


async def run(bench: Bench) -> dict[str, Any]:
    n = 300 if bench.quick else 1000
    async with running_system(
        bench, "router", channels(10, DUMMY_URL), services=("router",)
    ) as system:
        events, severities = _events(n)
        order = {incident_id: i for i, incident_id in enumerate(severities)}
        producer = EventProducer(
            bench.bootstrap_servers, client_id="bench-router", security=bench.security
        )
        await producer.start()
        topic = system.topics.incidents
        sent_at: dict[str, float] = {}
        try:
            await _warm_up(system, producer)
            started = time.perf_counter()
            for at in range(0, len(events), CHUNK):
                chunk = events[at : at + CHUNK]
                handed = time.perf_counter()
                for incident_id, event in chunk:
                    if isinstance(event.data, IncidentRaised):
                        sent_at[incident_id] = handed
                await producer.send_many([(topic, i, e.to_bytes()) for i, e in chunk])
        finally:
            await producer.stop()
        produced = time.perf_counter() - started
        bench.progress(f"router: {len(events)} events produced in {produced:.1f} s")
        watcher = system.watcher
        assert watcher is not None
        want = {i: _expected(system, severities[i], order[i]) for i in severities}

        def all_paused() -> bool:
            return all(len(watcher.paused.get(i, {})) >= k for i, k in want.items())

        await watcher.until(all_paused, within=600, what="every incident's pauses")
        paused_at = max(max(watcher.paused[i].values()) for i in want)
        database = Database(system.database_urls["router"])
        try:
            handled_at = await _until_handled(database, len(events) + 1)
            drafted_at, drafts = await _until_drafted(database)
        finally:
            await database.dispose()
    per_incident = [max(watcher.paused[i].values()) - sent_at[i] for i in want]
    return {
        "incidents": n,
        "events": len(events),
        "produced_s": round(produced, 2),
        "incidents_paused_per_s": round(n / (paused_at - started), 1),
        "events_per_s": round(len(events) / (handled_at - started), 1),
        "drafts_written": drafts - 1,  # less the warm-up's
        "drafted_s": round(drafted_at - started, 1),
        "time_to_pause": summarise(per_incident).as_dict(),
    }


async def _warm_up(system: System, producer: EventProducer) -> None:
    """One incident first, paused and drafted: the router's consumer is assigned by then."""
    events, _ = _events(1)
    incident_id, raised = events[0]
    await producer.publish(system.topics.incidents, incident_id, raised)
    watcher = system.watcher
    assert watcher is not None
    await watcher.until(lambda: incident_id in watcher.paused, within=60, what="the warm-up")
    database = Database(system.database_urls["router"])
    try:
        await _until_drafted(database)
    finally:
        await database.dispose()


async def _until_handled(database: Database, events: int, within: float = 600) -> float:
    """When the router's inbox holds every event (polled)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with database.reader() as session:
            count = await session.scalar(select(func.count()).select_from(InboxEntry))
        if int(count or 0) >= events:
            return time.perf_counter()
        await _nap()
    raise TimeoutError(f"the router did not handle {events} events in {within} s")


async def _until_drafted(database: Database, within: float = 600) -> tuple[float, int]:
    """When no incident waits for a draft any more, and how many drafts were written."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with database.reader() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(Incident)
                .where(Incident.draft_cause_id.isnot(None))
            )
            if not waiting:
                drafts = await session.scalar(select(func.count()).select_from(Draft))
                return time.perf_counter(), int(drafts or 0)
        await _nap()
    raise TimeoutError(f"drafting did not catch up in {within} s")


async def _nap() -> None:
    await asyncio.sleep(0.05)
