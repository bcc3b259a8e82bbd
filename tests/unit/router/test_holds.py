"""An incident's pause commits its fences first; the holding job holds the scheduled posts
after (holds.py); nothing is emitted onto a paused channel meanwhile, and a hold a crash lost
is done by the job's timed round."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.router.context import RouterContext
from services.router.holds import hold_on_paused_channels, hold_requested
from services.router.incidents import incident_handlers
from services.router.marketing import emit_due_posts
from services.router.models import MarketingPost
from shared.contract.events import ChannelPaused, CloudEvent, EventData, Severity
from shared.runtime.database import Database
from tests.unit.router.approval_harness import Clock
from tests.unit.router.test_marketing import (
    T0,
    clock,
    ctx,
    emitted_posts,
    outbound,
    raised,
    schedule,
    states,
)

__all__ = ["clock", "ctx"]  # the fixtures


async def handle_only(ctx: RouterContext, db: Database, data: EventData) -> None:
    """The consumer's transaction alone, without the jobs its commit wakes."""
    handler = incident_handlers(ctx)[data.event_type]
    async with db.transaction() as session:
        await handler(CloudEvent.wrap(data, source="/tests", id=str(uuid.uuid4())), session)


async def details(db: Database) -> dict[str, str | None]:
    async with db.sessions() as session:
        rows = await session.execute(select(MarketingPost.id, MarketingPost.detail))
        return dict(rows.all())


async def test_the_pause_commits_its_fences_and_the_job_holds_the_posts_after(
    ctx: RouterContext, db: Database
) -> None:
    later = [await schedule(ctx, db, "north", T0 + timedelta(hours=h)) for h in (1, 2)]
    south = await schedule(ctx, db, "south", T0 + timedelta(hours=1))
    await handle_only(ctx, db, raised("inc_n", Severity.SEV3, ["north"]))
    fences = [r.channel_id for r in await outbound(db, ctx) if isinstance(r, ChannelPaused)]
    assert fences == ["north", "xnorth"]
    assert set((await states(db)).values()) == {"scheduled"}  # not held in the pause's commit
    assert ctx.holds.wanted.is_set()  # the holding job is woken

    assert await hold_requested(ctx.holds, db, clock=ctx.clock) == 2
    assert await states(db) == {later[0]: "held", later[1]: "held", south: "scheduled"}
    assert (await details(db))[later[0]] == "paused: sev3 incident inc_n: Signal failure"
    assert await hold_requested(ctx.holds, db, clock=ctx.clock) is None  # nothing asked


async def test_a_due_post_is_never_emitted_onto_a_paused_channel_before_its_hold(
    ctx: RouterContext, db: Database, clock: Clock
) -> None:
    """The scheduler holds due posts on paused channels itself (and the publisher's fence
    refuses any that would be behind it)."""
    due = await schedule(ctx, db, "north", T0 + timedelta(minutes=1))
    await handle_only(ctx, db, raised("inc_d", Severity.SEV3, ["north"]))
    clock.advance(minutes=2)
    assert await emit_due_posts(ctx, db) == (0, None)
    assert await emitted_posts(db, ctx) == []
    assert (await states(db))[due] == "held"
    assert await hold_requested(ctx.holds, db, clock=ctx.clock) == 0  # held already


async def test_a_rolled_back_pause_asks_for_no_hold(ctx: RouterContext, db: Database) -> None:
    await schedule(ctx, db, "north", T0 + timedelta(hours=1))
    event = CloudEvent.wrap(raised("inc_r", Severity.SEV3, ["north"]), source="/tests")

    async def failing_fetch() -> None:
        async with db.transaction() as session:
            await incident_handlers(ctx)[event.type](event, session)
            raise RuntimeError("the fetch fails")

    with pytest.raises(RuntimeError):
        await failing_fetch()
    assert await hold_requested(ctx.holds, db, clock=ctx.clock) is None


async def test_a_hold_lost_to_a_crash_is_done_by_the_timed_round(
    ctx: RouterContext, db: Database
) -> None:
    """The first pause on a channel names its posts' detail; a released pause holds none."""
    north = await schedule(ctx, db, "north", T0 + timedelta(hours=1))
    south = await schedule(ctx, db, "south", T0 + timedelta(hours=1))
    await handle_only(ctx, db, raised("inc_1", Severity.SEV3, ["north"]))
    await handle_only(ctx, db, raised("inc_2", Severity.SEV1, []))
    ctx.holds.take()  # the router died before its holding job ran
    assert await hold_on_paused_channels(db, clock=ctx.clock) == 2
    assert await states(db) == {north: "held", south: "held"}
    assert "inc_1" in str((await details(db))[north])
    assert "inc_2" in str((await details(db))[south])
    assert await hold_on_paused_channels(db, clock=ctx.clock) == 0
