"""Escalation on a real database with a controllable clock: overdue drafts are escalated once,
and a passed next-update promise gets exactly one holding draft, whatever runs it."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from services.router import approvals
from services.router.escalation import escalate
from services.router.jobs import periodic_jobs
from services.router.settings import RouterSettings
from shared.contract.events import Severity
from shared.runtime.database import Database
from shared.web.auth import Principal, Role
from tests.unit.router.approval_harness import (
    Clock,
    audit_actions,
    deliver,
    drafts_of,
    incident,
    pending,
    raised,
    resolved,
    router_context,
    timeline_kinds,
    updated,
)

DUTY = Principal.of("dm", Role.DUTY_MANAGER)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_a_draft_is_overdue_only_past_its_severitys_limit_and_escalated_once(
    clock: Clock, db: Database
) -> None:
    ctx = router_context(clock)
    await deliver(ctx, db, raised("inc_1", Severity.SEV1))  # sev1: 5 minutes
    draft = await pending(db, "inc_1")
    clock.set(draft.created_at + timedelta(minutes=4))
    await escalate(ctx, db)
    assert (await pending(db, "inc_1")).overdue_at is None
    assert await audit_actions(db, draft.id) == []

    clock.set(draft.created_at + timedelta(minutes=5, seconds=1))
    await escalate(ctx, db)
    marked = await pending(db, "inc_1")
    assert marked.overdue_at == draft.created_at + timedelta(minutes=5)
    assert marked.escalated_at == clock.now
    for _ in range(3):  # later rounds, and a restarted router, escalate nothing more
        clock.advance(minutes=1)
        await escalate(router_context(clock), db)
    assert await audit_actions(db, draft.id) == [("draft.escalated", "router")]
    assert (await timeline_kinds(db, "inc_1")).count("escalated") == 1


async def test_a_decided_draft_is_never_escalated(clock: Clock, db: Database) -> None:
    ctx = router_context(clock)
    await deliver(ctx, db, raised("inc_2", Severity.SEV2))
    draft = await pending(db, "inc_2")
    async with db.transaction() as session:
        await approvals.reject(ctx, session, draft_id=draft.id, reason="wrong line", by=DUTY)
    clock.set(draft.created_at + timedelta(minutes=11))
    await escalate(ctx, db)
    assert await audit_actions(db, draft.id) == [("draft.rejected", "dm")]


async def test_a_passed_promise_gets_one_holding_draft_that_promises_again(
    clock: Clock, db: Database
) -> None:
    ctx = router_context(clock)
    await deliver(ctx, db, raised("inc_3", Severity.SEV3, every=20))
    first = await pending(db, "inc_3")
    promised = (await incident(db, "inc_3")).next_update_at
    assert promised == clock.now + timedelta(minutes=20)

    clock.set(promised - timedelta(seconds=1))
    await escalate(ctx, db)
    assert [d.id for d in await drafts_of(db, "inc_3")] == [first.id]

    clock.set(promised + timedelta(seconds=1))
    await asyncio.gather(escalate(ctx, db), escalate(router_context(clock), db))
    await escalate(ctx, db)
    drafts = await drafts_of(db, "inc_3")
    assert [(d.state, d.holding) for d in drafts] == [("superseded", False), ("pending", True)]
    holding = drafts[1]
    assert (await incident(db, "inc_3")).next_update_at == clock.now + timedelta(minutes=20)
    assert await audit_actions(db, holding.id) == [("draft.holding", "router")]
    assert (await timeline_kinds(db, "inc_3"))[-2:] == ["drafted", "holding"]

    clock.advance(minutes=21)  # the new promise passes too: one more, not a burst
    await escalate(ctx, db)
    await escalate(ctx, db)
    assert [d.holding for d in await drafts_of(db, "inc_3", "pending")] == [True]
    assert len(await drafts_of(db, "inc_3")) == 3


async def test_replicas_running_the_same_round_escalate_and_hold_once(
    clock: Clock, db: Database, database_url: str
) -> None:
    replica = Database(database_url)  # a second router: its own engine on the same database
    try:
        await deliver(router_context(clock), db, raised("inc_6", Severity.SEV1, every=5))
        draft = await pending(db, "inc_6")
        clock.set(draft.created_at + timedelta(minutes=6))
        rounds = [escalate(router_context(clock), d) for d in (db, replica, db, replica)]
        await asyncio.gather(*rounds)
    finally:
        await replica.dispose()
    assert await audit_actions(db, draft.id) == [("draft.escalated", "router")]
    drafts = await drafts_of(db, "inc_6")
    assert [(d.state, d.holding) for d in drafts] == [("superseded", False), ("pending", True)]
    assert (await timeline_kinds(db, "inc_6")).count("holding") == 1


async def test_an_update_approved_in_time_keeps_the_promise(clock: Clock, db: Database) -> None:
    ctx = router_context(clock)
    await deliver(ctx, db, raised("inc_4", Severity.SEV3, every=30))
    promised = (await incident(db, "inc_4")).next_update_at
    assert promised is not None
    clock.advance(minutes=20)
    await deliver(ctx, db, updated("inc_4", every=30))
    async with db.transaction() as session:
        await approvals.approve(
            ctx, session, draft_id=(await pending(db, "inc_4")).id, channel_ids=None, by=DUTY
        )
    clock.set(promised + timedelta(minutes=1))
    await escalate(ctx, db)
    drafts = await drafts_of(db, "inc_4")
    assert [(d.state, d.holding) for d in drafts] == [("superseded", False), ("approved", False)]
    assert "holding" not in await timeline_kinds(db, "inc_4")


async def test_a_resolved_incident_gets_no_holding_update(clock: Clock, db: Database) -> None:
    ctx = router_context(clock)
    await deliver(ctx, db, raised("inc_5", Severity.SEV2))
    await deliver(ctx, db, resolved("inc_5"))
    clock.advance(hours=6)
    await escalate(ctx, db)
    assert not any(d.holding for d in await drafts_of(db, "inc_5"))
    assert "holding" not in await timeline_kinds(db, "inc_5")


def test_the_router_runs_escalation_at_the_configured_interval(
    clock: Clock, db: Database, tmp_path: Path
) -> None:
    settings = RouterSettings(data_dir=tmp_path, escalation_interval_seconds=2)
    jobs = {t.name: t for t in periodic_jobs(router_context(clock), db, settings)}
    assert jobs["draft-escalation"].interval == 2
