"""Helpers for the approval-workflow tests: a controllable clock, incident events delivered
through the real handlers, and reads of what the router wrote."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import select

from services.router.context import RouterContext
from services.router.draft_queue import write_requested_drafts
from services.router.holds import hold_requested
from services.router.incidents import incident_handlers
from services.router.models import AuditEntry, Draft, Incident, TimelineEntry
from services.router.policy import Policy
from services.router.settings import RouterSettings
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.events import (
    Affected,
    CloudEvent,
    EventData,
    IncidentRaised,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    Severity,
)
from shared.contract.topics import Topics
from shared.runtime.database import Database
from shared.runtime.service import Runtime
from shared.web.accounts import Accounts
from shared.web.auth import TokenStore

CHANNELS = [
    ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status"),
    ChannelConfig(id="masto", type=ChannelType.MASTODON, name="Mastodon", marketing=True),
]


class Clock:
    """The router's time now, moved by the test instead of waited for."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def router_context(
    clock: Clock, policy: Policy | None = None, channels: list[ChannelConfig] | None = None
) -> RouterContext:
    return RouterContext(
        topics=Topics("planb"),
        channels=channels or CHANNELS,
        policy=policy or Policy(),
        zone=ZoneInfo("UTC"),
        public_base_url="http://status.example",
        wake_relay=lambda: None,
        clock=clock,
    )


async def deliver(ctx: RouterContext, db: Database, data: EventData) -> None:
    """Hand one incident event to the router's handler, as its consumer does."""
    handler = incident_handlers(ctx)[data.event_type]
    async with db.transaction() as session:
        await handler(CloudEvent.wrap(data, source="/tests", id=str(uuid.uuid4())), session)
    await hold_requested(ctx.holds, db, clock=ctx.clock)  # the jobs, as woken by that commit
    await write_requested_drafts(ctx, db)


def raised(
    incident_id: str, severity: Severity, *, by: str = "op", every: int = 30
) -> IncidentRaised:
    now = datetime.now(UTC)
    return IncidentRaised(
        incident_id=incident_id,
        title="Signal failure",
        severity=severity,
        affected=Affected(regions=["north"]),
        next_update_in_minutes=every,
        started_at=now,
        raised_by=by,
        raised_at=now,
    )


def updated(
    incident_id: str,
    *,
    by: str = "op",
    every: int | None = None,
    severity: Severity | None = None,
) -> IncidentUpdated:
    return IncidentUpdated(
        incident_id=incident_id,
        status=IncidentStatus.IDENTIFIED,
        severity=severity,
        message="A signal failed at Central.",
        next_update_in_minutes=every,
        updated_by=by,
        updated_at=datetime.now(UTC),
    )


def resolved(incident_id: str, *, by: str = "op") -> IncidentResolved:
    return IncidentResolved(incident_id=incident_id, resolved_by=by, resolved_at=datetime.now(UTC))


async def drafts_of(db: Database, incident_id: str, state: str | None = None) -> list[Draft]:
    """The incident's drafts, oldest first."""
    async with db.sessions() as session:
        query = select(Draft).where(Draft.incident_id == incident_id)
        if state is not None:
            query = query.where(Draft.state == state)
        rows = await session.scalars(query.order_by(Draft.created_at, Draft.id))
        return list(rows.all())


async def pending(db: Database, incident_id: str) -> Draft:
    (draft,) = await drafts_of(db, incident_id, "pending")
    return draft


async def incident(db: Database, incident_id: str) -> Incident:
    async with db.sessions() as session:
        found = await session.get(Incident, incident_id)
        assert found is not None, incident_id
        return found


async def audit_actions(db: Database, entity_id: str) -> list[tuple[str, str]]:
    """(action, actor) of every audit entry about `entity_id`, in order."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == entity_id).order_by(AuditEntry.id)
        )
        return [(row.action, row.actor) for row in rows]


async def timeline_kinds(db: Database, incident_id: str) -> list[str]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(TimelineEntry.kind)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.id)
        )
        return list(rows.all())


def wired_app(settings: RouterSettings, runtime: Runtime, clock: Clock) -> FastAPI:
    """The router app with what its lifespan would set (tokens, personal tokens in its own
    database, the runtime, a context on `clock`), minus Kafka."""
    from services.router.main import create_app

    app = create_app(settings)
    tokens_file = settings.resolved_tokens_file()
    app.state.settings = settings
    app.state.tokens = TokenStore.from_file(tokens_file) if tokens_file.exists() else TokenStore([])
    app.state.accounts = Accounts(runtime.database.url, database=runtime.database)
    app.state.runtime = runtime
    app.state.context = router_context(clock)
    return app
