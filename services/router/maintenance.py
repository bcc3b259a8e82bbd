"""Planned works: a window announced ahead, at its start and at its end, with marketing on the
channels it touches paused for the window.

A window has an incident row of its own (same id, severity sev4, never raised by ingest), so
its announcements are drafts like any other: edited, approved (four-eyes and auto-approval by
the policy as for any sev4), published on every channel and the status page, escalated when
they wait. At its start the job pauses marketing channels whose regions meet the window's
(every marketing channel when it names none, or `all`) with the fenced pause of incidents,
reason "maintenance: …"; at its end the pauses are released and held posts follow the
policy's resume rule, as after an incident. Every change goes to the publisher as
`planb.maintenance.changed.v1` (the page's upcoming and in-progress works) and the audit log.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import SOURCE, RouterContext
from services.router.drafting import LanguageText
from services.router.fitting import Drafted, channel_limit, fit
from services.router.incidents import draft_update
from services.router.models import Incident, MaintenanceWindow
from services.router.pauses import pause_channels, release_pauses
from services.router.schemas_maintenance import MaintenanceIn
from shared.contract.errors import Conflict, NotFound, Rejected
from shared.contract.events import (
    Affected,
    CloudEvent,
    IncidentStatus,
    MaintenanceChanged,
    MaintenanceState,
    Severity,
    derived_id,
)
from shared.runtime.database import Database
from shared.web.auth import Principal

OPEN = (MaintenanceState.SCHEDULED.value, MaintenanceState.IN_PROGRESS.value)
STATUS = {  # the incident status each announcement is drafted under
    "ahead": IncidentStatus.IDENTIFIED,
    "extended": IncidentStatus.IDENTIFIED,
    "start": IncidentStatus.MONITORING,
    "end": IncidentStatus.RESOLVED,
    "cancelled": IncidentStatus.RESOLVED,
    "stopped": IncidentStatus.RESOLVED,  # cancelled once under way
}


async def create(
    ctx: RouterContext, session: AsyncSession, body: MaintenanceIn, *, by: Principal
) -> MaintenanceWindow:
    now = ctx.clock()
    if body.ends_at <= now:
        raise Rejected("Window in the past", "The works must end in the future.")
    window = MaintenanceWindow(
        id="mnt_" + uuid.uuid4().hex[:20],
        title=body.title,
        text=body.text,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        services=list(body.affected.services),
        regions=list(body.affected.regions),
        state=MaintenanceState.SCHEDULED.value,
        created_by=by.name,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(window)
    session.add(
        Incident(
            id=window.id,
            title=f"Planned works: {body.title}"[:200],
            severity=Severity.SEV4.value,
            status=IncidentStatus.IDENTIFIED.value,
            customer_impact=body.text,
            services=window.services,
            regions=window.regions,
            raised_by=by.name,
            started_at=body.starts_at,
            opened_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    await _changed(ctx, session, window, stage="ahead", actor=by.name, details={})
    return window


async def extend(
    ctx: RouterContext,
    session: AsyncSession,
    maintenance_id: str,
    *,
    ends_at: datetime,
    by: Principal,
) -> MaintenanceWindow:
    window = await _open_window(session, maintenance_id)
    if ends_at <= window.ends_at:
        raise Rejected("Not an extension", "The new end must come after the current one.")
    before = window.ends_at
    window.ends_at = ends_at
    details = {"ends_at_before": before.isoformat(), "ends_at": ends_at.isoformat()}
    await _changed(ctx, session, window, stage="extended", actor=by.name, details=details)
    return window


async def cancel(
    ctx: RouterContext, session: AsyncSession, maintenance_id: str, *, reason: str, by: Principal
) -> MaintenanceWindow:
    window = await _open_window(session, maintenance_id)
    under_way = window.state == MaintenanceState.IN_PROGRESS.value
    window.state = MaintenanceState.CANCELLED.value
    await _release(ctx, session, window, actor=by.name)
    stage = "stopped" if under_way else "cancelled"
    await _changed(ctx, session, window, stage=stage, actor=by.name, details={"reason": reason})
    return window


async def run_due(ctx: RouterContext, database: Database) -> int:
    """The periodic job's round: start the windows whose time came, end those that are over."""
    now = ctx.clock()
    async with database.transaction() as session:
        due = (
            await session.scalars(
                select(MaintenanceWindow)
                .where(
                    MaintenanceWindow.state.in_(OPEN),
                    (MaintenanceWindow.starts_at <= now) | (MaintenanceWindow.ends_at <= now),
                )
                .order_by(MaintenanceWindow.starts_at)
                .limit(50)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for window in due:
            if window.state == MaintenanceState.SCHEDULED.value and window.ends_at > now:
                await _start(ctx, session, window)
            else:
                window.state = MaintenanceState.COMPLETED.value
                await _release(ctx, session, window, actor="policy")
                await _changed(ctx, session, window, stage="end", actor="policy", details={})
        return len(due)


async def _start(ctx: RouterContext, session: AsyncSession, window: MaintenanceWindow) -> None:
    window.state = MaintenanceState.IN_PROGRESS.value
    regions = set(window.regions)
    targets = [
        c.id
        for c in ctx.channels
        if c.marketing and (not regions or "all" in regions or regions & set(c.tags.regions))
    ]
    paused = await pause_channels(
        ctx,
        session,
        targets,
        incident_id=window.id,
        reason=f"maintenance: {window.title}",
        actor="policy",
        cause_id=f"{window.id}:start",
        now=ctx.clock(),
    )
    details = {"paused": paused.channels, "held_posts": paused.held_posts}
    await _changed(ctx, session, window, stage="start", actor="policy", details=details)


async def _release(
    ctx: RouterContext, session: AsyncSession, window: MaintenanceWindow, *, actor: str
) -> None:
    await release_pauses(
        ctx,
        session,
        incident_id=window.id,
        actor=actor,
        cause_id=f"{window.id}:end:{window.version}",
        now=ctx.clock(),
    )


async def _changed(
    ctx: RouterContext,
    session: AsyncSession,
    window: MaintenanceWindow,
    *,
    stage: str,
    actor: str,
    details: Mapping[str, object],
) -> None:
    """One change: its announcement drafted, the publisher told, the audit log written."""
    now = ctx.clock()
    if stage != "ahead":
        window.version += 1
    window.updated_at = now
    incident = await session.get(Incident, window.id)
    if incident is None:
        raise NotFound("Maintenance not found", f"No incident row for {window.id}.")
    status = STATUS[stage]
    incident.status = status.value
    incident.updated_at = now
    incident.last_updated_by = actor
    if status is IncidentStatus.RESOLVED:
        incident.resolved_at = now
    cause = f"{window.id}:{stage}:{window.version}"
    words = announcement(window, stage=stage, zone=ctx.zone)  # in English: flagged elsewhere
    rendered = {
        (c.id, language): LanguageText(language, "en", _fitted(words, ctx, c.id, window.id))
        for c in ctx.channels
        for language in c.languages
    }
    await draft_update(ctx, session, incident, cause_id=cause, message=None, rendered=rendered)
    changed = MaintenanceChanged(
        maintenance_id=window.id,
        title=window.title,
        state=MaintenanceState(window.state),
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        affected=Affected(services=window.services, regions=window.regions),
        text=window.text,
        changed_at=now,
    )
    ctx.emit(
        session,
        topic=ctx.topics.outbound,
        key=window.id,
        event=CloudEvent.wrap(changed, source=SOURCE, subject=window.id, id=derived_id(cause)),
    )
    record_audit(
        ctx,
        session,
        actor=actor,
        action=f"maintenance.{stage}",
        entity_type="maintenance",
        entity_id=window.id,
        details={**details, "state": window.state},
    )


def _fitted(text: str, ctx: RouterContext, channel_id: str, maintenance_id: str) -> Drafted:
    channel = ctx.channel(channel_id)
    assert channel is not None
    link = ctx.incident_link(maintenance_id)
    return fit(f"{text} {link}", channel_limit(channel), keep=link)


def announcement(window: MaintenanceWindow, *, stage: str, zone: ZoneInfo) -> str:
    """The plain words of each announcement (edited in the draft like any other)."""
    start, end = _when(window.starts_at, zone), _when(window.ends_at, zone)
    told = f" {window.text}" if window.text else ""
    return {
        "ahead": f"Planned works: {window.title}, from {start} to {end}.{told}",
        "extended": f"Planned works extended: {window.title} now ends {end}.{told}",
        "start": f"Planned works have started: {window.title}, until {end}.{told}",
        "end": f"Planned works are over: {window.title}. Thank you for your patience.",
        "cancelled": f"Planned works cancelled: {window.title} ({start} to {end}) will not "
        "take place.",
        "stopped": f"Planned works stopped early: {window.title} is over.",
    }[stage]


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    suffix = " UTC" if zone.key == "UTC" else ""
    return f"{local:%a %d %b %H:%M}{suffix}"


async def _open_window(session: AsyncSession, maintenance_id: str) -> MaintenanceWindow:
    window = await session.get(MaintenanceWindow, maintenance_id, with_for_update=True)
    if window is None:
        raise NotFound("Maintenance not found", f"No maintenance {maintenance_id}.")
    if window.state not in OPEN:
        raise Conflict(
            "Maintenance over",
            f"Maintenance {maintenance_id} is {window.state}.",
            state=window.state,
        )
    return window
