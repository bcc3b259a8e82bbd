"""Which periodic jobs the router runs (the loop itself is `periodic.PeriodicJob`); the
lifespan spawns each."""

from functools import partial

from services.router.accounts_audit import audit_account_events
from services.router.console import signins
from services.router.context import RouterContext
from services.router.draft_queue import write_requested_drafts
from services.router.escalation import escalate
from services.router.maintenance import run_due
from services.router.marketing import emit_due_posts
from services.router.periodic import PeriodicJob
from services.router.resume import auto_resume
from services.router.settings import RouterSettings
from shared.runtime.database import Database


def periodic_jobs(
    ctx: RouterContext, database: Database, settings: RouterSettings
) -> list[PeriodicJob]:
    """Every job the router runs in the background; all their state is in the database."""

    async def scheduler_round() -> float | None:
        _, next_due = await emit_due_posts(ctx, database)
        return next_due

    async def auto_resume_round() -> float | None:
        await auto_resume(ctx, database)
        return None

    async def sessions_cleanup_round() -> float | None:
        await signins.forget_old(database, ctx.clock())
        return None

    async def drafting_round() -> float | None:
        await write_requested_drafts(ctx, database)
        return None

    async def maintenance_round() -> float | None:
        await run_due(ctx, database)
        return None

    return [
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
