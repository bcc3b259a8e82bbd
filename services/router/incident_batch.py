"""A fetch's incident events handled together: set-based, for the worst day's alert storm.

One query loads the fetch's incidents, two their active pauses and the channels paused at
all; then each event is applied in fetch order (so in order per incident: one key, one
partition) to those rows in memory, exactly as incidents.py applies one (the same functions
in incident_changes.py). New pause rows, timeline and audit entries and the outbox records
are staged and written as one multi-row INSERT per table at the commit; a channel some pause
already holds costs only its new pause row (its scheduled posts are held already), and the
posts of newly paused channels are held after the commit (holds.py), one UPDATE per reason.
A draft is asked for as one event would (the latest event's request replaces an earlier
one's: one draft per incident however many events it had). `resolved` is rarer and
releases pauses by query: what is staged is written first, and incidents.py's own handler
takes it.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import RouterContext
from services.router.incident_changes import (
    Entry,
    apply_update,
    new_incident,
    pause_reason,
    pause_targets,
    paused_entry,
    raised_entry,
    timeline_row,
    updated_entry,
)
from services.router.incidents import request_draft
from services.router.models import ChannelPause, Incident, TimelineEntry
from services.router.pauses import announce_pauses, pause_rows
from shared.contract.events import (
    CloudEvent,
    IncidentRaised,
    IncidentStatus,
    IncidentUpdated,
)
from shared.runtime.consumer import PermanentError, payload_of
from shared.runtime.database import stage_insert, write_staged
from shared.runtime.fetch import Handler, TogetherHandler

log = logging.getLogger(__name__)


@dataclass
class _Book:
    """What the fetch's events need to know, kept up to date as they are applied."""

    incidents: dict[str, Incident]
    pausing: dict[str, set[str]]
    """incident id → channels it pauses"""
    paused: set[str]
    """channels some active pause holds"""
    to_hold: dict[str, list[str]] = field(default_factory=dict)
    """pause reason → channels it newly paused, whose scheduled posts it holds"""


def incidents_together(ctx: RouterContext, one_by_one: Mapping[str, Handler]) -> TogetherHandler:
    """The `together` handler for `planb.incidents`; `one_by_one` are incidents.py's."""

    async def handle(events: list[CloudEvent], session: AsyncSession) -> None:
        book = await _load(session, {_incident_id(e) for e in events})
        for event in events:
            if isinstance(event.data, IncidentRaised):
                _raised(ctx, session, book, event=event)
            elif isinstance(event.data, IncidentUpdated):
                _updated(ctx, session, book, event=event)
            else:
                await _write(ctx, session, book)
                await one_by_one[event.type](event, session)
                book = await _load(session, set(book.incidents))
        await _write(ctx, session, book)

    return handle


def _incident_id(event: CloudEvent) -> str:
    incident_id = getattr(event.data, "incident_id", None)
    if not isinstance(incident_id, str):
        raise PermanentError(f"{event.type} names no incident")
    return incident_id


async def _load(session: AsyncSession, incident_ids: set[str]) -> _Book:
    incidents = await session.scalars(select(Incident).where(Incident.id.in_(incident_ids)))
    pausing: dict[str, set[str]] = {}
    active = ChannelPause.released_at.is_(None)
    rows = await session.execute(
        select(ChannelPause.incident_id, ChannelPause.channel_id).where(
            active, ChannelPause.incident_id.in_(incident_ids)
        )
    )
    for incident_id, channel_id in rows:
        if incident_id is not None:
            pausing.setdefault(incident_id, set()).add(channel_id)
    paused = set(await session.scalars(select(ChannelPause.channel_id).where(active).distinct()))
    return _Book({i.id: i for i in incidents}, pausing, paused)


def _raised(ctx: RouterContext, session: AsyncSession, book: _Book, *, event: CloudEvent) -> None:
    data = payload_of(event, IncidentRaised)
    if data.incident_id in book.incidents:
        ids = {"incident_id": data.incident_id, "event_id": event.id}
        log.info("incident %s already recorded; event %s ignored", *ids.values(), extra=ids)
        return
    incident = book.incidents[data.incident_id] = new_incident(data, now=ctx.clock())
    session.add(incident)
    _timeline(session, incident.id, raised_entry(data))
    _pause(ctx, session, book, incident=incident, cause_id=event.id)
    request_draft(ctx, session, incident, cause_id=event.id, message=data.summary)


def _updated(ctx: RouterContext, session: AsyncSession, book: _Book, *, event: CloudEvent) -> None:
    data = payload_of(event, IncidentUpdated)
    incident = book.incidents.get(data.incident_id)
    if incident is None:  # the fetch is handled one by one: this record is dead-lettered
        raise PermanentError(f"incident {data.incident_id} is not known to the router")
    if incident.status == IncidentStatus.RESOLVED.value:
        ids = {"incident_id": incident.id, "event_id": event.id}
        log.warning("incident %s is resolved; event %s ignored", *ids.values(), extra=ids)
        return
    apply_update(incident, data, now=ctx.clock())
    _timeline(session, incident.id, updated_entry(data))
    _pause(ctx, session, book, incident=incident, cause_id=event.id)
    request_draft(ctx, session, incident, cause_id=event.id, message=data.message)


def _pause(
    ctx: RouterContext, session: AsyncSession, book: _Book, *, incident: Incident, cause_id: str
) -> None:
    """As incidents.pause_marketing_for, with what the book knows instead of queries."""
    pausing = book.pausing.setdefault(incident.id, set())
    channel_ids = [c for c in pause_targets(ctx, incident) if c not in pausing]
    if not channel_ids:
        return
    reason, now = pause_reason(incident), ctx.clock()
    fresh = [c for c in channel_ids if c not in book.paused]
    if fresh:
        book.to_hold.setdefault(reason, []).extend(fresh)
    pausing.update(channel_ids)
    book.paused.update(channel_ids)
    rows = pause_rows(channel_ids, incident_id=incident.id, reason=reason, actor="policy", now=now)
    stage_insert(session, ChannelPause, rows)
    announce_pauses(
        ctx,
        session,
        channel_ids,
        incident_id=incident.id,
        reason=reason,
        actor="policy",
        cause_id=cause_id,
        now=now,
    )
    _timeline(session, incident.id, paused_entry(channel_ids))


async def _write(ctx: RouterContext, session: AsyncSession, book: _Book) -> None:
    """Ask for the newly paused channels' scheduled posts to be held once this commits (in
    the order paused, as the handlers one by one do), then insert what is staged."""
    for reason, channel_ids in book.to_hold.items():
        ctx.holds.defer(session, channel_ids, reason=reason)
    book.to_hold.clear()
    await write_staged(session)


def _timeline(session: AsyncSession, incident_id: str, entry: Entry) -> None:
    stage_insert(session, TimelineEntry, [timeline_row(incident_id, entry)])
