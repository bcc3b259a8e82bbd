"""The incident events of a fetch handled together (incident_batch.py) leave exactly what the
same events handled one by one (incidents.py) leave: incidents, pauses, held posts, timeline,
audit entries and outbox records in the same order."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from services.router.context import RouterContext
from services.router.holds import hold_requested
from services.router.incident_batch import incidents_together
from services.router.incidents import incident_handlers
from services.router.marketing import schedule_post
from services.router.models import (
    AuditEntry,
    Base,
    ChannelPause,
    Incident,
    MarketingPost,
    TimelineEntry,
)
from services.router.schemas_marketing import PostIn
from shared.contract.events import (
    CloudEvent,
    EventData,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    Severity,
    parse_event,
    utcnow,
)
from shared.runtime.consumer import PermanentError
from shared.runtime.database import Database, OutboxEntry, SharedBase
from shared.web.auth import Principal, Role
from tests.unit.router.test_router_flow import NOW, ctx, raised

__all__ = ["ctx"]  # the fixture

MARKETER = Principal.of("mkt", Role.MARKETING)


def updated(incident_id: str, message: str, severity: Severity | None = None) -> IncidentUpdated:
    return IncidentUpdated(
        incident_id=incident_id,
        status=IncidentStatus.IDENTIFIED,
        message=message,
        severity=severity,
        updated_by="op",
        updated_at=NOW,
    )


def storm() -> list[CloudEvent]:
    """A's pause widens with its severity; B pauses a channel A holds already; A resolves
    (north resumes, south stays held by B); late and repeated events are ignored; C pauses
    everything again."""
    events: list[EventData] = [
        raised("inc_a", Severity.SEV3, ["north"]),
        updated("inc_a", "Worse than we thought", Severity.SEV1),
        raised("inc_b", Severity.SEV3, ["south"]),
        updated("inc_b", "Engineers on site"),
        IncidentResolved(incident_id="inc_a", resolved_by="op", resolved_at=NOW, message="Fixed"),
        updated("inc_a", "Too late: resolved"),
        raised("inc_b", Severity.SEV3, ["south"]),
        raised("inc_c", Severity.SEV1, []),
        updated("inc_c", "Still looking"),
    ]
    return [
        CloudEvent.wrap(data, source="/tests", id=f"evt_{n}_{uuid.uuid4().hex[:6]}")
        for n, data in enumerate(events)
    ]


async def schedule(ctx: RouterContext, db: Database) -> None:
    async with db.transaction() as session:
        for n, channel_id in enumerate(["north", "south", "north"]):
            body = PostIn(
                channel_id=channel_id, text=f"Offer {n}", publish_at=utcnow() + timedelta(days=1)
            )
            await schedule_post(ctx, session, body, by=MARKETER)


async def snapshot(db: Database) -> dict[str, list[Any]]:
    async with db.sessions() as session:
        incidents = await session.scalars(select(Incident).order_by(Incident.id))
        pauses = await session.scalars(select(ChannelPause).order_by(ChannelPause.id))
        posts = await session.scalars(select(MarketingPost).order_by(MarketingPost.text))
        timeline = await session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))
        audit = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        outbox = await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))
        return {
            "incidents": [
                (i.id, i.severity, i.status, i.draft_message, i.resolved_at is None)
                for i in incidents
            ],
            "pauses": [(p.incident_id, p.channel_id, p.released_at is None) for p in pauses],
            "posts": [(p.text, p.state, p.detail) for p in posts],
            "timeline": [(t.incident_id, t.kind, t.text) for t in timeline],
            "audit": [(a.action, a.entity_id, a.details) for a in audit],
            "outbox": [_record(row) for row in outbox],
        }


def _record(row: OutboxEntry) -> tuple[str, str, str, str | None]:
    event = parse_event(row.value)
    outbound = row.topic.endswith("outbound")
    return row.topic, row.key, event.type, event.id if outbound else event.subject


async def wipe(db: Database) -> None:
    async with db.transaction() as session:
        for metadata in (Base.metadata, SharedBase.metadata):
            for table in reversed(metadata.sorted_tables):
                await session.execute(delete(table))


async def test_a_fetch_handled_together_leaves_what_one_by_one_leaves(
    ctx: RouterContext, db: Database
) -> None:
    events = storm()
    one_by_one = incident_handlers(ctx)
    await schedule(ctx, db)
    for event in events:
        async with db.transaction() as session:
            await one_by_one[event.type](event, session)
        await hold_requested(ctx.holds, db, clock=ctx.clock)  # the holding job, woken
    expected = await snapshot(db)
    await wipe(db)

    await schedule(ctx, db)
    async with db.transaction() as session:
        await incidents_together(ctx, one_by_one)(events, session)
    await hold_requested(ctx.holds, db, clock=ctx.clock)
    got = await snapshot(db)

    assert got == expected
    assert ("inc_b", "south", True) in got["pauses"]  # a channel paused already: its own row
    assert [p[1] for p in got["posts"]] == ["held", "held", "held"]
    assert "inc_a" in str(got["posts"][1][2])  # south's post: held by A, the first to pause it


async def test_an_update_of_an_unknown_incident_fails_the_fetch(
    ctx: RouterContext, db: Database
) -> None:
    """The consumer then handles the fetch's records one by one and dead-letters this one."""
    event = CloudEvent.wrap(updated("inc_nobody", "?"), source="/tests")
    with pytest.raises(PermanentError):
        async with db.transaction() as session:
            await incidents_together(ctx, incident_handlers(ctx))([event], session)
