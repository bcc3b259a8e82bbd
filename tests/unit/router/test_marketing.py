"""The marketing calendar, the scoped set-based pause and the resume decisions, on a real
database with a controllable clock (no sleeps)."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from services.router.context import RouterContext
from services.router.deliveries import delivery_handlers
from services.router.marketing import cancel_post, emit_due_posts, schedule_post
from services.router.models import AuditEntry, MarketingPost
from services.router.policy import Policy, ResumePolicy
from services.router.read_models import channel_views
from services.router.resume import auto_resume, pause_by_hand, resume_by_hand
from services.router.schemas_marketing import (
    Choice,
    PauseIn,
    PostChoice,
    PostIn,
    ResumeAction,
    ResumeIn,
)
from shared.contract.channels import ChannelConfig, ChannelTags, ChannelType
from shared.contract.errors import DomainError
from shared.contract.events import (
    Affected,
    ChannelPaused,
    ChannelResumed,
    CloudEvent,
    DeliveryHeld,
    DeliveryPublished,
    EventData,
    IncidentRaised,
    IncidentResolved,
    MessageKind,
    PublishRequested,
    Severity,
    parse_event,
)
from shared.runtime.database import Database, OutboxEntry
from shared.web.auth import Principal, Role
from tests.unit.router.approval_harness import Clock, deliver, router_context

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MARKETER = Principal.of("mia", Role.MARKETING)
DUTY = Principal.of("dm", Role.DUTY_MANAGER)


def _channel(
    id_: str, type_: ChannelType, regions: list[str], marketing: bool = True
) -> ChannelConfig:
    return ChannelConfig(
        id=id_, type=type_, name=id_, marketing=marketing, tags=ChannelTags(regions=regions)
    )


CHANNELS = [
    _channel("status", ChannelType.STATUSPAGE, ["all"], marketing=False),
    _channel("north", ChannelType.MASTODON, ["north"]),
    _channel("south", ChannelType.MASTODON, ["south"]),
    _channel("xnorth", ChannelType.X, ["north"]),
]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def make_ctx(clock: Clock, policy: Policy | None = None) -> RouterContext:
    return router_context(clock, policy, CHANNELS)


@pytest.fixture
def ctx(clock: Clock) -> RouterContext:
    return make_ctx(clock)


async def schedule(
    ctx: RouterContext, db: Database, channel_id: str, at: datetime, text: str = "20% off!"
) -> str:
    async with db.transaction() as session:
        post = await schedule_post(
            ctx, session, PostIn(channel_id=channel_id, text=text, publish_at=at), by=MARKETER
        )
        return post.id


def raised(incident_id: str, severity: Severity, regions: list[str]) -> IncidentRaised:
    return IncidentRaised(
        incident_id=incident_id,
        title="Signal failure",
        severity=severity,
        affected=Affected(regions=regions),
        started_at=T0,
        raised_by="op",
        raised_at=T0,
    )


def resolved(incident_id: str) -> IncidentResolved:
    return IncidentResolved(incident_id=incident_id, resolved_by="op", resolved_at=T0)


async def outbound(db: Database, ctx: RouterContext) -> list[EventData]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.topic == ctx.topics.outbound)
            .order_by(OutboxEntry.id)
        )
        return [parse_event(row.value).data for row in rows]


async def emitted_posts(db: Database, ctx: RouterContext) -> list[str | None]:
    return [
        r.post_id
        for r in await outbound(db, ctx)
        if isinstance(r, PublishRequested) and r.kind is MessageKind.MARKETING
    ]


async def states(db: Database) -> dict[str, str]:
    async with db.sessions() as session:
        rows = await session.execute(select(MarketingPost.id, MarketingPost.state))
        return dict(rows.all())


# --- the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel_id", "text", "at", "match"),
    [
        ("mars", "hello", T0, "No channel 'mars'"),
        ("status", "hello", T0, "not open to marketing posts"),
        ("north", "hello", T0 - timedelta(hours=1), "more than 5 minutes ago"),
        ("xnorth", "a" * 281, T0, r"as xnorth \(x\) counts it; the limit is 280, so it is 1 over"),
        (
            "north",
            "b" * 501,
            T0,
            r"as north \(mastodon\) counts it; the limit is 500, so it is 1 over",
        ),
    ],
)
async def test_a_post_that_cannot_go_out_is_refused_with_the_reason(
    ctx: RouterContext, db: Database, channel_id: str, text: str, at: datetime, match: str
) -> None:
    with pytest.raises(DomainError, match=match):
        await schedule(ctx, db, channel_id, at, text)


async def test_due_posts_are_emitted_once_and_future_ones_wait(
    ctx: RouterContext, db: Database, clock: Clock
) -> None:
    due = await schedule(ctx, db, "north", T0)
    later = await schedule(ctx, db, "south", T0 + timedelta(seconds=30))
    emitted, next_due = await emit_due_posts(ctx, db)
    assert (emitted, next_due) == (1, 30.0)
    assert await emitted_posts(db, ctx) == [due]
    assert await emit_due_posts(ctx, db) == (0, 30.0)
    clock.advance(seconds=30)
    assert await emit_due_posts(ctx, db) == (1, None)
    assert await emitted_posts(db, ctx) == [due, later]
    assert (await states(db)) == {due: "emitted", later: "emitted"}


async def test_two_schedulers_at_once_never_emit_a_post_twice(
    ctx: RouterContext, db: Database
) -> None:
    posts = [await schedule(ctx, db, "north", T0) for _ in range(50)]
    results = await asyncio.gather(*(emit_due_posts(ctx, db, batch=20) for _ in range(4)))
    while (await emit_due_posts(ctx, db, batch=20))[0]:
        pass
    assert sum(emitted for emitted, _ in results) <= 50
    assert sorted(await emitted_posts(db, ctx)) == sorted(posts)


async def test_cancel_a_scheduled_post_but_not_one_with_the_publisher(
    ctx: RouterContext, db: Database
) -> None:
    waiting = await schedule(ctx, db, "north", T0 + timedelta(hours=1))
    sent = await schedule(ctx, db, "north", T0)
    await emit_due_posts(ctx, db)
    async with db.transaction() as session:
        assert (await cancel_post(ctx, session, waiting, by=MARKETER)).state == "cancelled"
    with pytest.raises(DomainError, match="is emitted; only scheduled or held"):
        async with db.transaction() as session:
            await cancel_post(ctx, session, sent, by=MARKETER)


# --- the pause ----------------------------------------------------------------------------


async def test_one_statement_holds_ten_thousand_posts_on_the_affected_channels_only(
    ctx: RouterContext, db: Database
) -> None:
    rows = [
        {
            "id": f"mkt_{i:08d}",
            "channel_id": ("north", "south", "xnorth")[i % 3],
            "text": "offer",
            "publish_at": T0 + timedelta(minutes=i),
            "state": "scheduled",
            "message_id": f"msg_{i:08d}",
            "emissions": 0,
            "created_by": "mia",
            "created_at": T0,
            "updated_at": T0,
        }
        for i in range(10_000)
    ]
    async with db.transaction() as session:
        await session.execute(insert(MarketingPost), rows)
    started = time.perf_counter()
    await deliver(ctx, db, raised("inc_n", Severity.SEV3, ["north"]))
    elapsed = time.perf_counter() - started
    print(f"\nsev3 incident handled with 10,000 scheduled posts in {elapsed * 1000:.1f} ms")
    async with db.sessions() as session:
        by_state = dict(
            (
                await session.execute(
                    select(
                        MarketingPost.channel_id + ":" + MarketingPost.state, func.count()
                    ).group_by(MarketingPost.channel_id, MarketingPost.state)
                )
            ).all()
        )
    assert by_state == {"north:held": 3334, "xnorth:held": 3333, "south:scheduled": 3333}
    records = await outbound(db, ctx)
    assert [(type(r).__name__, r.channel_id) for r in records] == [
        ("ChannelPaused", "north"),
        ("ChannelPaused", "xnorth"),
    ]


async def test_a_post_scheduled_on_a_paused_channel_is_held_from_the_start(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_p", Severity.SEV2, []))
    post = await schedule(ctx, db, "south", T0)
    assert (await states(db))[post] == "held"
    assert await emit_due_posts(ctx, db) == (0, None)


async def test_held_posts_wait_for_a_person_when_overlapping_incidents_end(
    ctx: RouterContext, db: Database, clock: Clock
) -> None:
    post = await schedule(ctx, db, "north", T0 + timedelta(minutes=1))
    await deliver(ctx, db, raised("inc_1", Severity.SEV3, ["north"]))
    await deliver(ctx, db, raised("inc_2", Severity.SEV1, []))
    await deliver(ctx, db, resolved("inc_1"))
    resumed = [r.channel_id for r in await outbound(db, ctx) if isinstance(r, ChannelResumed)]
    assert resumed == []  # inc_2 still pauses north
    async with db.sessions() as session:
        north = next(c for c in await channel_views(ctx, session) if c.id == "north")
    assert north.paused
    assert [p.incident_id for p in north.pauses] == ["inc_2"]
    assert north.held_posts == 1
    await deliver(ctx, db, resolved("inc_2"))
    resumed = [r.channel_id for r in await outbound(db, ctx) if isinstance(r, ChannelResumed)]
    assert sorted(resumed) == ["north", "south", "xnorth"]
    clock.advance(minutes=5)
    assert await emit_due_posts(ctx, db) == (0, None)  # no burst: still held
    assert (await states(db))[post] == "held"


# --- resume -------------------------------------------------------------------------------


async def _held_on_north(ctx: RouterContext, db: Database, clock: Clock) -> list[str]:
    """Four north posts (two overdue, two future) held by an incident that is then over."""
    offsets = [1, 2, 60, 120]
    posts = [await schedule(ctx, db, "north", T0 + timedelta(minutes=m)) for m in offsets]
    await deliver(ctx, db, raised("inc_h", Severity.SEV3, ["north"]))
    await deliver(ctx, db, resolved("inc_h"))
    clock.advance(minutes=10)
    return posts


async def test_resume_applies_a_choice_per_post_and_one_for_the_rest(
    ctx: RouterContext, db: Database, clock: Clock
) -> None:
    overdue_1, overdue_2, future_1, future_2 = await _held_on_north(ctx, db, clock)
    body = ResumeIn(
        channels=["north"],
        posts=[
            PostChoice(post_id=overdue_1, action=ResumeAction.SEND_NOW),
            PostChoice(post_id=future_2, action=ResumeAction.CANCEL),
        ],
        all_posts=Choice(action=ResumeAction.RESTORE),
    )
    async with db.transaction() as session:
        result = await resume_by_hand(ctx, session, body, by=DUTY)
    assert (result.sent, result.cancelled, result.restored, result.still_held) == (1, 1, 1, 1)
    assert await states(db) == {
        overdue_1: "emitted",
        overdue_2: "held",  # overdue: restore leaves it for its own decision
        future_1: "scheduled",
        future_2: "cancelled",
    }
    assert await emitted_posts(db, ctx) == [overdue_1]


async def test_reschedule_spreads_a_backlog_over_a_window(
    ctx: RouterContext, db: Database, clock: Clock
) -> None:
    posts = await _held_on_north(ctx, db, clock)
    body = ResumeIn(all_posts=Choice(action=ResumeAction.RESCHEDULE, spread_minutes=40))
    async with db.transaction() as session:
        result = await resume_by_hand(ctx, session, body, by=DUTY)
    assert result.rescheduled == 4
    async with db.sessions() as session:
        times = [(await session.get(MarketingPost, p)).publish_at for p in posts]  # type: ignore[union-attr]
    assert times == [clock.now + timedelta(minutes=m) for m in (0, 10, 20, 30)]


async def test_a_channel_an_open_incident_pauses_cannot_be_resumed(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_o", Severity.SEV3, ["north"]))
    body = ResumeIn(channels=["north"], all_posts=Choice(action=ResumeAction.SEND_NOW))
    with pytest.raises(DomainError, match=r"north: inc_o\. Resolve the incident first"):
        async with db.transaction() as session:
            await resume_by_hand(ctx, session, body, by=DUTY)
    async with db.transaction() as session:
        result = await resume_by_hand(ctx, session, ResumeIn(), by=DUTY)
    assert [s.channel_id for s in result.still_paused] == ["north", "xnorth"]


async def test_the_red_button_pauses_by_tag_with_a_reason_and_resume_lifts_it(
    ctx: RouterContext, db: Database
) -> None:
    post = await schedule(ctx, db, "south", T0 + timedelta(hours=1))
    body = PauseIn(reason="Storm warning", tags=ChannelTags(regions=["south"]))
    async with db.transaction() as session:
        result = await pause_by_hand(ctx, session, body, by=DUTY)
    assert (result.paused, result.held_posts) == (["south"], 1)
    (paused,) = [r for r in await outbound(db, ctx) if isinstance(r, ChannelPaused)]
    assert (paused.channel_id, paused.incident_id) == ("south", None)
    assert paused.reason == "Storm warning (paused by dm)"
    body_all = ResumeIn(all_posts=Choice(action=ResumeAction.RESTORE))
    async with db.transaction() as session:
        resumed = await resume_by_hand(ctx, session, body_all, by=DUTY)
    assert resumed.resumed == ["south"]
    assert (await states(db))[post] == "scheduled"
    async with db.sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action + ":" + AuditEntry.actor).order_by(AuditEntry.id)
            )
        ).all()
    assert "channel.paused:dm" in actions
    assert "channel.resumed:dm" in actions
    assert "marketing.resumed:dm" in actions


async def test_the_policy_cool_down_resumes_by_itself_without_a_burst(
    db: Database, clock: Clock
) -> None:
    ctx = make_ctx(clock, Policy(resume=ResumePolicy(auto_after_minutes=15, spread_minutes=30)))
    overdue_1, overdue_2, future_1, _ = await _held_on_north(ctx, db, clock)
    assert await auto_resume(ctx, db) == 0  # 10 minutes after resolution
    clock.advance(minutes=5)
    assert await auto_resume(ctx, db) == 4
    async with db.sessions() as session:
        posts = {p: await session.get(MarketingPost, p) for p in (overdue_1, overdue_2, future_1)}
    assert {p.state for p in posts.values() if p} == {"scheduled"}
    assert posts[overdue_1].publish_at == clock.now  # type: ignore[union-attr]
    assert posts[overdue_2].publish_at == clock.now + timedelta(minutes=15)  # type: ignore[union-attr]
    assert posts[future_1].publish_at == T0 + timedelta(minutes=60)  # type: ignore[union-attr]


async def test_two_replicas_resume_a_channel_once_with_one_record(
    db: Database, clock: Clock, database_url: str
) -> None:
    """Both router replicas run the automatic resume; the one that finds the posts already
    taken by the other (PostgreSQL lets both look before either locks) records nothing."""
    ctx = make_ctx(clock, Policy(resume=ResumePolicy(auto_after_minutes=15, spread_minutes=30)))
    await _held_on_north(ctx, db, clock)
    clock.advance(minutes=5)
    other_replica = Database(database_url)
    try:
        resumed = await asyncio.gather(auto_resume(ctx, db), auto_resume(ctx, other_replica))
    finally:
        await other_replica.dispose()
    assert sorted(resumed) == [0, 4]
    async with db.sessions() as session:
        records = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "marketing.resumed")
        )
    assert records == 1


# --- what the publisher reports -------------------------------------------------------------


async def test_the_publishers_reports_settle_the_post(ctx: RouterContext, db: Database) -> None:
    held, sent = await schedule(ctx, db, "north", T0), await schedule(ctx, db, "south", T0)
    await emit_due_posts(ctx, db)
    handlers = delivery_handlers()
    async with db.sessions() as session:
        message_ids = {
            p.id: p.message_id for p in (await session.scalars(select(MarketingPost))).all()
        }
    reports: list[EventData] = [
        DeliveryHeld(
            message_id=message_ids[held],
            channel_id="north",
            kind=MessageKind.MARKETING,
            post_id=held,
            at=T0,
            reason="channel 'north' is paused",
        ),
        DeliveryPublished(
            message_id=message_ids[sent],
            channel_id="south",
            kind=MessageKind.MARKETING,
            post_id=sent,
            at=T0,
            url="https://social.example/@x/1",
        ),
    ]
    for report in reports:
        async with db.transaction() as session:
            event = CloudEvent.wrap(report, source="/tests", id=str(uuid.uuid4()))
            await handlers[report.event_type](event, session)
    assert await states(db) == {held: "held", sent: "published"}
