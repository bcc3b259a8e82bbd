"""Which periodic jobs the router runs (the loop itself is `periodic.PeriodicJob`); the
lifespan spawns each."""

import asyncio
from functools import partial

from services.router.accounts_audit import audit_account_events
from services.router.console import signins
from services.router.context import RouterContext
from services.router.draft_queue import write_requested_drafts
from services.router.escalation import escalate
from services.router.holds import hold_on_paused_channels, hold_requested
from services.router.maintenance import run_due
from services.router.marketing import emit_due_posts
from services.router.periodic import PeriodicJob
from services.router.resume import auto_resume
from services.router.settings import RouterSettings
from shared.runtime.database import Database


def periodic_jobs(
    ctx: RouterContext,
    database: Database,
    settings: RouterSettings,
    *,
    pauses_first: asyncio.Event | None = None,
) -> list[PeriodicJob]:
    """Every job the router runs in the background; all their state is in the database.
    Holding and drafting wait for `pauses_first` (the incident consumer has no fetch in
    hand), so a storm's pauses never queue behind them."""

    async def scheduler_round() -> float | None:
        _, next_due = await emit_due_posts(ctx, database)
        return next_due

    async def auto_resume_round() -> float | None:
        await auto_resume(ctx, database)
        return None

    async def sessions_cleanup_round() -> float | None:
        await signins.forget_old(database, ctx.clock())
        return None

    async def holding_round() -> float | None:
        if pauses_first is not None:
            await pauses_first.wait()
        if await hold_requested(ctx.holds, database, clock=ctx.clock) is None:
            await hold_on_paused_channels(database, clock=ctx.clock)  # what a crash left
        return None

    async def drafting_round() -> float | None:
        await write_requested_drafts(ctx, database, pauses_first=pauses_first)
        return None

    async def maintenance_round() -> float | None:
        await run_due(ctx, database)
        return None

    return [
        # woken by the commit of every pause that has posts to hold, or every 30 s
        PeriodicJob("holding", holding_round, interval=30.0, wake=ctx.holds.wanted),
        # woken by every incident event's commit; the interval only catches what a crash left
        PeriodicJob("drafting", drafting_round, interval=5.0, wake=ctx.drafts_wanted),
        PeriodicJob(
            "marketing-scheduler", scheduler_round, interval=settings.marketing_poll_seconds
        ),
        PeriodicJob("marketing-auto-resume", auto_resume_round, interval=30.0),
        PeriodicJob("maintenance", maintenance_round, interval=settings.maintenance_poll_seconds),
        PeriodicJob(
            "draft-escalation",
            partial(escalate, ctx, database),
            interval=settings.escalation_interval_seconds,
        ),
        # `planb tokens` writes its events straight into the database; the API audits its own
        PeriodicJob("token-audit", partial(audit_account_events, ctx, database), interval=2.0),
        PeriodicJob("console-sessions-cleanup", sessions_cleanup_round, interval=3600.0),
    ]
