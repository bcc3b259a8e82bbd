"""Escalation, never silent expiry: a draft left pending past the policy's limit is marked
overdue and escalated once, and a next-update promise that passes gets a holding update.

One round (`escalate`) runs in the `draft-escalation` job. Both halves claim their rows with
a conditional UPDATE (`WHERE escalated_at IS NULL`, `WHERE next_update_at = <promised>`): on
PostgreSQL a second replica's UPDATE waits for the first one's row lock, then matches nothing;
SQLite serialises writers anyway (BEGIN IMMEDIATE). A holding draft's cause id is derived from
the incident and the promised time, and `Draft.source_event_id` is unique, so no restart or
replica drafts two for one promise.

A promise is `Incident.next_update_at`: set by each incident event, moved on by each holding
update. When it passes, customers are owed an update whatever was approved before, because the
last approved text itself said "next update by" that time; an incident update that arrives in
time sets a new promise, and a resolved incident promises nothing.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import RouterContext
from services.router.incidents import draft_update
from services.router.models import Draft, Incident, TimelineEntry
from shared.contract.events import Severity, derived_id
from shared.runtime.database import Database

log = logging.getLogger(__name__)

ACTOR = "router"
BATCH = 100
DEFAULT_UPDATE_EVERY_MINUTES = 30


async def escalate(ctx: RouterContext, database: Database) -> float | None:
    """One round: escalate overdue drafts, then draft holding updates for passed promises."""
    now = ctx.clock()
    async with database.transaction() as session:
        await escalate_overdue_drafts(ctx, session, now)
    async with database.transaction() as session:
        await draft_holding_updates(ctx, session, now)
    return None


async def escalate_overdue_drafts(
    ctx: RouterContext, session: AsyncSession, now: datetime
) -> list[str]:
    """Mark pending drafts older than their severity's limit overdue; escalate each once."""
    limits = ctx.policy.approval.escalate_after_minutes
    if not limits:
        return []
    late = or_(
        *(
            and_(Incident.severity == severity.value, Draft.created_at < now - _minutes(limit))
            for severity, limit in limits.items()
        )
    )
    candidates = (
        await session.execute(
            select(Draft.id, Draft.incident_id, Draft.created_at, Incident.severity)
            .join(Incident, Incident.id == Draft.incident_id)
            .where(Draft.state == "pending", Draft.escalated_at.is_(None), late)
            .order_by(Draft.created_at)
            .limit(BATCH)
        )
    ).all()
    escalated = []
    for draft_id, incident_id, created_at, severity in candidates:
        limit = limits[Severity(severity)]
        claimed = await session.scalar(
            update(Draft)
            .where(Draft.id == draft_id, Draft.state == "pending", Draft.escalated_at.is_(None))
            .values(overdue_at=created_at + _minutes(limit), escalated_at=now)
            .returning(Draft.id)
        )
        if claimed is None:
            continue  # decided or escalated by another replica meanwhile
        waited = int((now - created_at).total_seconds() // 60)
        text = (
            f"Draft {draft_id} has waited {waited} min for approval "
            f"(the {severity} limit is {limit} min); escalated"
        )
        session.add(
            TimelineEntry(incident_id=incident_id, kind="escalated", text=text, actor=ACTOR, at=now)
        )
        record_audit(
            ctx,
            session,
            actor=ACTOR,
            action="draft.escalated",
            entity_type="draft",
            entity_id=draft_id,
            details={
                "incident_id": incident_id,
                "severity": severity,
                "limit_minutes": limit,
                "waited_minutes": waited,
            },
        )
        log.warning(
            "draft %s of incident %s overdue: pending %d min, %s limit %d min",
            draft_id,
            incident_id,
            waited,
            severity,
            limit,
        )
        escalated.append(draft_id)
    return escalated


async def draft_holding_updates(
    ctx: RouterContext, session: AsyncSession, now: datetime
) -> list[str]:
    """Draft one holding update for each open incident whose promised update time passed."""
    due = (
        await session.execute(
            select(Incident.id, Incident.next_update_at)
            .where(
                Incident.resolved_at.is_(None),
                Incident.next_update_at.is_not(None),
                Incident.next_update_at <= now,
            )
            .order_by(Incident.next_update_at)
            .limit(BATCH)
        )
    ).all()
    drafted = []
    for incident_id, promised in due:
        assert promised is not None  # the query keeps only incidents with a promised time
        draft = await _draft_holding_update(
            ctx, session, incident_id=incident_id, promised=promised, now=now
        )
        if draft is not None:
            drafted.append(draft.id)
    return drafted


async def _draft_holding_update(
    ctx: RouterContext,
    session: AsyncSession,
    *,
    incident_id: str,
    promised: datetime,
    now: datetime,
) -> Draft | None:
    every = await session.scalar(
        select(Incident.update_every_minutes).where(Incident.id == incident_id)
    )
    claimed = await session.scalar(
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.next_update_at == promised,
            Incident.resolved_at.is_(None),
        )
        .values(next_update_at=now + _minutes(every or DEFAULT_UPDATE_EVERY_MINUTES))
        .returning(Incident.id)
    )
    if claimed is None:
        return None  # updated, resolved or claimed by another replica meanwhile
    incident = await session.get(Incident, incident_id, populate_existing=True)
    if incident is None:  # pragma: no cover - claimed just now, in this transaction
        return None
    cause_id = derived_id(incident_id, "holding", promised.isoformat())
    draft = await draft_update(
        ctx, session, incident, cause_id=cause_id, message=None, holding=True
    )
    draft.holding = True
    when = promised.astimezone(ctx.zone).strftime("%H:%M")
    session.add(
        TimelineEntry(
            incident_id=incident_id,
            kind="holding",
            text=f"The update promised by {when} is due; holding update {draft.id} drafted",
            actor=ACTOR,
            at=now,
        )
    )
    record_audit(
        ctx,
        session,
        actor=ACTOR,
        action="draft.holding",
        entity_type="draft",
        entity_id=draft.id,
        details={
            "incident_id": incident_id,
            "promised_at": promised.isoformat(),
            "next_update_at": incident.next_update_at.isoformat()
            if incident.next_update_at
            else None,
        },
    )
    log.info("incident %s: update promised by %s is due; drafted %s", incident_id, when, draft.id)
    return draft


def _minutes(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)
