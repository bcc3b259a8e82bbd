"""The router's periodic jobs, each a `Ticker` spawned by the lifespan."""

from functools import partial

from services.router.context import RouterContext
from services.router.escalation import escalate
from services.router.settings import RouterSettings
from services.router.ticker import Ticker
from shared.db import Database


def periodic_jobs(ctx: RouterContext, database: Database, settings: RouterSettings) -> list[Ticker]:
    """Every job the router runs in the background; all their state is in the database."""
    return [
        Ticker(
            "draft-escalation",
            partial(escalate, ctx, database),
            interval=settings.escalation_interval_seconds,
        ),
    ]
