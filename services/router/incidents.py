"""Handling incident events: record state and pause marketing in the event's transaction,
then ask for a draft and for the paused channels' scheduled posts to be held, which the
drafting job (draft_queue.py) and the holding job (holds.py) do once that has committed, so
the `channel paused` records never wait for templates to render or posts to be held."""

import logging
import uuid
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.approvals import approve_by_policy
from services.router.context import RouterContext
from services.router.drafting import DraftInput, LanguageText
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
from services.router.models import Draft, DraftText, Incident, TimelineEntry
from services.router.pauses import pause_channels, release_pauses
from shared.contract.events import (
    CloudEvent,
    IncidentRaised,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
)
from shared.runtime.consumer import Handler, PermanentError, payload_of
from shared.runtime.database import after_commit

log = logging.getLogger(__name__)


def incident_handlers(ctx: RouterContext) -> dict[str, Handler]:
    """The registry of `planb.incidents` handlers, keyed by event type."""

    async def on_raised(event: CloudEvent, session: AsyncSession) -> None:
        data = payload_of(event, IncidentRaised)
        if await session.get(Incident, data.incident_id) is not None:
            log.info("incident %s already recorded; event %s ignored", data.incident_id, event.id)
            return
        incident = new_incident(data, now=ctx.clock())
        session.add(incident)
        _timeline(session, incident.id, raised_entry(data))
        await pause_marketing_for(ctx, session, incident, cause_id=event.id, first=True)
        request_draft(ctx, session, incident, cause_id=event.id, message=data.summary)

    async def on_updated(event: CloudEvent, session: AsyncSession) -> None:
        data = payload_of(event, IncidentUpdated)
        incident = await _open_incident(session, data.incident_id, event.id)
        if incident is None:
            return
        apply_update(incident, data, now=ctx.clock())
        _timeline(session, incident.id, updated_entry(data))
        await pause_marketing_for(ctx, session, incident, cause_id=event.id)
        request_draft(ctx, session, incident, cause_id=event.id, message=data.message)

    async def on_resolved(event: CloudEvent, session: AsyncSession) -> None:
        data = payload_of(event, IncidentResolved)
        incident = await _open_incident(session, data.incident_id, event.id)
        if incident is None:
            return
        now = ctx.clock()
        incident.status = IncidentStatus.RESOLVED.value
        incident.resolved_at = now
        incident.updated_at = now
        incident.next_update_at = None
        incident.last_updated_by = data.resolved_by
        # what it means for customers now: the resolution's words, or nothing (the impact
        # of the disruption no longer holds, and its drafts must not repeat it)
        incident.customer_impact = data.customer_impact
        _timeline(
            session, incident.id, Entry("resolved", data.message or "resolved", data.resolved_by)
        )
        await release_pauses_of(ctx, session, incident, cause_id=event.id)
        request_draft(ctx, session, incident, cause_id=event.id, message=data.message)

    return {
        IncidentRaised.event_type: on_raised,
        IncidentUpdated.event_type: on_updated,
        IncidentResolved.event_type: on_resolved,
    }


async def pause_marketing_for(
    ctx: RouterContext,
    session: AsyncSession,
    incident: Incident,
    *,
    cause_id: str,
    first: bool = False,
) -> list[str]:
    """Pause every channel the policy says this incident pauses and that it doesn't yet
    (`first`: it was just raised, so it pauses none yet)."""
    paused, _ = await pause_channels(
        ctx,
        session,
        pause_targets(ctx, incident),
        incident_id=incident.id,
        reason=pause_reason(incident),
        actor="policy",
        cause_id=cause_id,
        now=ctx.clock(),
        hold_later=True,
        first=first,
    )
    if paused:
        _timeline(session, incident.id, paused_entry(paused))
    return paused


async def release_pauses_of(
    ctx: RouterContext, session: AsyncSession, incident: Incident, *, cause_id: str
) -> list[str]:
    """Release this incident's pauses; a channel resumes only when no other pause holds it."""
    resumed = await release_pauses(
        ctx, session, incident_id=incident.id, actor="policy", cause_id=cause_id, now=ctx.clock()
    )
    if resumed:
        text = f"No incident pauses {', '.join(resumed)} any more; held posts await a decision"
        _timeline(session, incident.id, Entry("resumed", text, "policy"))
    return resumed


def request_draft(
    ctx: RouterContext,
    session: AsyncSession,
    incident: Incident,
    *,
    cause_id: str,
    message: str | None,
) -> None:
    """Ask for this event's draft: written by the drafting job once this commits. A later
    event of the same incident replaces the request (its draft would supersede this one)."""
    incident.draft_cause_id = cause_id
    incident.draft_message = message
    after_commit(session, ctx.drafts_wanted.set)


def render_draft(
    ctx: RouterContext,
    incident: Incident,
    *,
    message: str | None,
    now: datetime,
    holding: bool = False,
) -> "DraftTexts":
    """Every channel's text in each of its languages for the incident's state, fitted to its
    limit (CPU only: the drafting job calls it before taking the write lock)."""
    draft_input = DraftInput(
        incident=incident,
        message=message,
        link=ctx.incident_link(incident.id),
        zone=ctx.zone,
        now=now,
        holding=holding,
    )
    return ctx.drafter.draft_all(draft_input, ctx.channels)


DraftTexts = dict[tuple[str, str], LanguageText]
"""A draft's texts by channel id and language."""


async def draft_update(
    ctx: RouterContext,
    session: AsyncSession,
    incident: Incident,
    *,
    cause_id: str,
    message: str | None,
    holding: bool = False,
    rendered: DraftTexts | None = None,
) -> Draft:
    """Supersede the incident's pending drafts and write a new one for every channel, fitted
    to its limit (`rendered` beforehand, or now); `holding` drafts the "still working on it"
    text (`holding.j2`)."""
    now = ctx.clock()
    if rendered is None:
        rendered = render_draft(ctx, incident, message=message, now=now, holding=holding)
    await session.execute(
        update(Draft)
        .where(Draft.incident_id == incident.id, Draft.state == "pending")
        .values(state="superseded", decided_at=now)
    )
    draft = Draft(
        id="drf_" + uuid.uuid5(uuid.NAMESPACE_URL, cause_id).hex[:20],
        incident_id=incident.id,
        source_event_id=cause_id,
        incident_status=incident.status,
        state="pending",
        created_at=now,
    )
    session.add(draft)
    await session.flush()  # the texts refer to it
    for (channel_id, language), text in rendered.items():
        if text.drafted.cut_chars or text.fallback:
            log.info(
                "draft %s for incident %s on %s in %s: %d characters cut to fit %d%s",
                draft.id,
                incident.id,
                channel_id,
                language,
                text.drafted.cut_chars,
                text.drafted.limit,
                f"; no {language} template, {text.template_language} used" if text.fallback else "",
            )
    # one multi-row INSERT: with 1,000 channels, ORM objects held SQLite's writer ~0.5 s,
    # and the next incident's pause waited behind it
    if rendered:
        await session.execute(
            insert(DraftText),
            [
                {
                    "draft_id": draft.id,
                    "channel_id": channel_id,
                    "language": language,
                    "template_language": text.template_language,
                    "text": text.drafted.text,
                    "length": text.drafted.length,
                    "limit": text.drafted.limit,
                    "cut_chars": text.drafted.cut_chars,
                }
                for (channel_id, language), text in rendered.items()
            ],
        )
    _timeline(session, incident.id, Entry("drafted", f"Draft {draft.id} awaits approval", "router"))
    await approve_by_policy(ctx, session, draft, incident=incident)
    return draft


async def _open_incident(session: AsyncSession, incident_id: str, event_id: str) -> Incident | None:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise PermanentError(f"incident {incident_id} is not known to the router")
    if incident.status == IncidentStatus.RESOLVED.value:
        log.warning("incident %s is resolved; event %s ignored", incident_id, event_id)
        return None
    return incident


def _timeline(session: AsyncSession, incident_id: str, entry: Entry) -> None:
    session.add(TimelineEntry(**timeline_row(incident_id, entry)))
