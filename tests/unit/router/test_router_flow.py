"""Router handlers and approvals against a real database: pause first, then drafts;
supersede; approval requests publication; overlapping incidents hold a pause."""

import asyncio
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.router import approvals
from services.router.context import RouterContext
from services.router.draft_queue import write_requested_drafts
from services.router.holds import hold_requested
from services.router.incidents import incident_handlers
from services.router.models import AuditEntry, ChannelPause, Draft
from services.router.pauses import Paused, pause_channels
from services.router.policy import Policy
from shared.contract.channels import ChannelConfig, ChannelTags, ChannelType
from shared.contract.errors import DomainError
from shared.contract.events import (
    Affected,
    ChannelPaused,
    ChannelResumed,
    CloudEvent,
    EventData,
    IncidentRaised,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    PublishRequested,
    Severity,
    parse_event,
)
from shared.contract.topics import Topics
from shared.runtime.database import Database, OutboxEntry
from shared.web.auth import Principal, Role

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
DUTY = Principal.of("dm", Role.DUTY_MANAGER)
CHANNELS = [
    ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status"),
    ChannelConfig(
        id="north",
        type=ChannelType.MASTODON,
        name="N",
        marketing=True,
        tags=ChannelTags(regions=["north"]),
    ),
    ChannelConfig(
        id="south",
        type=ChannelType.MASTODON,
        name="S",
        marketing=True,
        tags=ChannelTags(regions=["south"]),
    ),
]


@pytest.fixture
def ctx() -> RouterContext:
    return RouterContext(
        topics=Topics("planb"),
        channels=CHANNELS,
        policy=Policy(),
        zone=ZoneInfo("UTC"),
        public_base_url="http://status.example",
        wake_relay=lambda: None,
    )


async def deliver(ctx: RouterContext, db: Database, data: EventData) -> None:
    handler = incident_handlers(ctx)[data.event_type]
    async with db.transaction() as session:
        await handler(CloudEvent.wrap(data, source="/tests", id=str(uuid.uuid4())), session)
    await hold_requested(ctx.holds, db, clock=ctx.clock)  # the jobs, as woken by that commit
    await write_requested_drafts(ctx, db)


async def outbound(db: Database, ctx: RouterContext) -> list[EventData]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.topic == ctx.topics.outbound)
            .order_by(OutboxEntry.id)
        )
        return [parse_event(row.value).data for row in rows]


def raised(incident_id: str, severity: Severity, regions: list[str]) -> IncidentRaised:
    return IncidentRaised(
        incident_id=incident_id,
        title="Signal failure",
        severity=severity,
        affected=Affected(regions=regions),
        started_at=NOW,
        raised_by="op",
        raised_at=NOW,
    )


async def pending_drafts(db: Database, incident_id: str) -> list[Draft]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(Draft).where(Draft.incident_id == incident_id, Draft.state == "pending")
        )
        return list(rows.all())


async def test_sev3_pauses_only_its_region_and_drafts_for_every_channel(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_a", Severity.SEV3, ["north"]))
    records = await outbound(db, ctx)
    assert [(type(r).__name__, r.channel_id) for r in records] == [("ChannelPaused", "north")]
    (draft,) = await pending_drafts(db, "inc_a")
    async with db.sessions() as session:
        texts = await approvals.texts_of(session, draft.id)
    assert [t.channel_id for t in texts] == ["north", "south", "status"]
    assert all("Signal failure" in t.text and "Next update by" in t.text for t in texts)
    assert all("http://status.example/status#inc_a" in t.text for t in texts)


async def test_a_newer_event_supersedes_the_pending_draft(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_b", Severity.SEV4, []))
    (first,) = await pending_drafts(db, "inc_b")
    update = IncidentUpdated(
        incident_id="inc_b",
        status=IncidentStatus.IDENTIFIED,
        message="A signal failed at Central.",
        updated_by="op",
        updated_at=NOW,
    )
    await deliver(ctx, db, update)
    (second,) = await pending_drafts(db, "inc_b")
    assert second.id != first.id
    with pytest.raises(DomainError, match="superseded; only pending drafts"):
        async with db.transaction() as session:
            await approvals.approve(ctx, session, draft_id=first.id, channel_ids=None, by=DUTY)


async def test_approval_requests_publication_on_the_chosen_channels(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_c", Severity.SEV4, []))
    (draft,) = await pending_drafts(db, "inc_c")
    async with db.transaction() as session:
        await approvals.edit_text(
            ctx, session, draft_id=draft.id, channel_id="status", text="Edited by hand.", by=DUTY
        )
        await approvals.approve(
            ctx, session, draft_id=draft.id, channel_ids=["status", "north"], by=DUTY
        )
    requests = [r for r in await outbound(db, ctx) if isinstance(r, PublishRequested)]
    assert sorted((r.channel_id, r.text) for r in requests)[1] == ("status", "Edited by hand.")
    assert {r.channel_id for r in requests} == {"status", "north"}
    assert all(r.incident and r.incident.incident_id == "inc_c" for r in requests)
    with pytest.raises(DomainError, match="approved; only pending drafts"):
        async with db.transaction() as session:
            await approvals.approve(ctx, session, draft_id=draft.id, channel_ids=None, by=DUTY)


async def test_unknown_channel_in_approval_is_refused(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_d", Severity.SEV4, []))
    (draft,) = await pending_drafts(db, "inc_d")
    with pytest.raises(DomainError, match="no text for: mars"):
        async with db.transaction() as session:
            await approvals.approve(
                ctx, session, draft_id=draft.id, channel_ids=["status", "mars"], by=DUTY
            )


async def test_a_channel_resumes_only_when_every_incident_holding_it_is_over(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_e", Severity.SEV1, []))
    await deliver(ctx, db, raised("inc_f", Severity.SEV3, ["north"]))
    resolved_e = IncidentResolved(incident_id="inc_e", resolved_by="op", resolved_at=NOW)
    await deliver(ctx, db, resolved_e)
    resumed = [r.channel_id for r in await outbound(db, ctx) if isinstance(r, ChannelResumed)]
    assert resumed == ["south"]  # north is still held by inc_f
    await deliver(ctx, db, IncidentResolved(incident_id="inc_f", resolved_by="op", resolved_at=NOW))
    records = await outbound(db, ctx)
    resumed = [r.channel_id for r in records if isinstance(r, ChannelResumed)]
    paused = [r.channel_id for r in records if isinstance(r, ChannelPaused)]
    assert resumed == ["south", "north"]
    assert paused == ["north", "south", "north"]
    async with db.sessions() as session:
        active = await session.scalars(
            select(ChannelPause).where(ChannelPause.released_at.is_(None))
        )
        assert list(active.all()) == []


async def handle_only(ctx: RouterContext, db: Database, data: EventData) -> None:
    """The consumer's transaction alone: as if the router died before its drafting job ran."""
    handler = incident_handlers(ctx)[data.event_type]
    async with db.transaction() as session:
        await handler(CloudEvent.wrap(data, source="/tests", id=str(uuid.uuid4())), session)


async def test_the_pause_commits_before_the_draft_and_a_request_survives_a_crash(
    ctx: RouterContext, db: Database
) -> None:
    await handle_only(ctx, db, raised("inc_g", Severity.SEV1, []))
    assert ctx.drafts_wanted.is_set()  # the commit woke the drafting job
    paused = [r.channel_id for r in await outbound(db, ctx) if isinstance(r, ChannelPaused)]
    assert paused == ["north", "south"]  # out before any template rendered
    assert await pending_drafts(db, "inc_g") == []
    # a restarted router's job finds the request the committed event left
    assert await write_requested_drafts(ctx, db) == 1
    (draft,) = await pending_drafts(db, "inc_g")
    assert await write_requested_drafts(ctx, db) == 0  # written once
    async with db.sessions() as session:
        assert len(await approvals.texts_of(session, draft.id)) == len(CHANNELS)


async def test_drafting_waits_while_the_incident_consumer_has_a_consumer_idle(
    ctx: RouterContext, db: Database
) -> None:
    """The pause first: the job neither renders nor takes the write lock until the
    consumer's `idle` is set again."""
    await handle_only(ctx, db, raised("inc_w", Severity.SEV2, []))
    consumer_idle = asyncio.Event()
    job = asyncio.create_task(write_requested_drafts(ctx, db, pauses_first=consumer_idle))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not job.done()
    assert await pending_drafts(db, "inc_w") == []
    consumer_idle.set()
    assert await job == 1
    assert len(await pending_drafts(db, "inc_w")) == 1


async def test_a_burst_of_events_is_drafted_once_for_the_latest(
    ctx: RouterContext, db: Database
) -> None:
    await handle_only(ctx, db, raised("inc_h", Severity.SEV4, []))
    for message in ("Signal failed at Central.", "Engineers are on site."):
        update = IncidentUpdated(
            incident_id="inc_h",
            status=IncidentStatus.IDENTIFIED,
            message=message,
            updated_by="op",
            updated_at=NOW,
        )
        await handle_only(ctx, db, update)
    assert await write_requested_drafts(ctx, db) == 1
    async with db.sessions() as session:
        drafts = (await session.scalars(select(Draft).where(Draft.incident_id == "inc_h"))).all()
        (draft,) = drafts
        texts = await approvals.texts_of(session, draft.id)
    assert draft.state == "pending"
    assert draft.incident_status == "identified"
    assert all("Engineers are on site." in t.text for t in texts)


async def test_pauses_staged_earlier_in_the_transaction_count_as_the_incidents_own(
    ctx: RouterContext, db: Database
) -> None:
    """Pause rows are inserted at the commit; a second pause by the same incident in the
    same transaction still finds the first's channels paused."""
    async with db.transaction() as session:
        for channels, first in ((["north"], True), (["north", "south"], False)):
            paused = await pause_channels(
                ctx,
                session,
                channels,
                incident_id="inc_twice",
                reason="sev2",
                actor="policy",
                cause_id=f"evt_{len(channels)}",
                now=NOW,
                first=first,
            )
            assert paused.channels == channels[-1:]
    async with db.sessions() as session:
        rows = (await session.scalars(select(ChannelPause.channel_id))).all()
    assert sorted(rows) == ["north", "south"]


async def test_a_pause_writes_a_row_an_audit_entry_and_a_fence_per_channel_fences_first(
    ctx: RouterContext, db: Database
) -> None:
    """Set-based: the rows come from multi-row INSERTs, and every fence is staged ahead of
    the audit records, so the relay sends them in its first batch."""
    channels = [f"c{i:03d}" for i in range(25)]
    async with db.transaction() as session:
        paused = await pause_channels(
            ctx,
            session,
            channels,
            incident_id="inc_many",
            reason="sev1",
            actor="policy",
            cause_id="evt_many",
            now=NOW,
        )
    assert paused == Paused(channels, 0)
    async with db.sessions() as session:
        pauses = (await session.scalars(select(ChannelPause).order_by(ChannelPause.id))).all()
        audits = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        topics = (await session.scalars(select(OutboxEntry.topic).order_by(OutboxEntry.id))).all()
    assert [(p.channel_id, p.incident_id, p.paused_by, p.released_at) for p in pauses] == [
        (c, "inc_many", "policy", None) for c in channels
    ]
    assert [(a.action, a.entity_id, a.details) for a in audits] == [
        ("channel.paused", c, {"incident_id": "inc_many", "reason": "sev1"}) for c in channels
    ]
    assert topics == [ctx.topics.outbound] * 25 + [ctx.topics.audit] * 25
    fences = await outbound(db, ctx)
    assert [(type(f).__name__, f.channel_id) for f in fences] == [  # type: ignore[attr-defined]
        ("ChannelPaused", c) for c in channels
    ]
