"""The duty manager's decisions on drafts: edit, approve (all or some channels), reject; and
the policy's own approval of the severities it approves by itself (`approve_by_policy`)."""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import SOURCE, RouterContext
from services.router.fitting import measure_fitting
from services.router.four_eyes import check_four_eyes
from services.router.models import Delivery, Draft, DraftText, Incident, TimelineEntry
from shared.contract.errors import Conflict, DomainError, NotFound, Rejected
from shared.contract.events import (
    CloudEvent,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
    derived_id,
)
from shared.contract.textlength import Measured
from shared.runtime.database import after_commit
from shared.web.auth import Principal, Role

log = logging.getLogger(__name__)

POLICY = Principal.of("policy", Role.DUTY_MANAGER)
"""Who approves a draft the policy approves by itself (`approval.auto_approve`)."""


async def load_pending(session: AsyncSession, draft_id: str) -> Draft:
    """The draft if it can still be decided on; `NotFound` or `Conflict` (saying why) otherwise."""
    draft = await session.get(Draft, draft_id, with_for_update=True)
    if draft is None:
        raise NotFound("Draft not found", f"No draft {draft_id}.")
    if draft.state != "pending":
        raise Conflict(
            "Draft not pending",
            f"Draft {draft_id} is {draft.state}; only pending drafts can be changed.",
            state=draft.state,
        )
    return draft


async def texts_of(session: AsyncSession, draft_id: str) -> list[DraftText]:
    rows = await session.scalars(
        select(DraftText).where(DraftText.draft_id == draft_id).order_by(DraftText.channel_id)
    )
    return list(rows.all())


async def edit_text(
    ctx: RouterContext,
    session: AsyncSession,
    *,
    draft_id: str,
    channel_id: str,
    text: str,
    by: Principal,
) -> Draft:
    draft = await load_pending(session, draft_id)
    row = await session.scalar(
        select(DraftText).where(DraftText.draft_id == draft_id, DraftText.channel_id == channel_id)
    )
    if row is None:
        raise Rejected("Unknown channel", f"Draft {draft_id} has no text for {channel_id!r}.")
    measured = _measure_edit(ctx, channel_id, text)
    before = row.text
    row.text = text
    row.edited_by = by.name
    row.length, row.limit, row.cut_chars = measured.length, measured.limit, 0
    record_audit(
        ctx,
        session,
        actor=by.name,
        action="draft.edited",
        entity_type="draft",
        entity_id=draft_id,
        details={"channel_id": channel_id, "before": before, "after": text},
    )
    return draft


def _measure_edit(ctx: RouterContext, channel_id: str, text: str) -> Measured:
    """The edited text's length as the channel counts it; 422 with the figures if over."""
    channel = ctx.channel(channel_id)
    if channel is None:
        raise Rejected("Unknown channel", f"Channel {channel_id!r} is no longer configured.")
    return measure_fitting(channel, text)


async def approve(
    ctx: RouterContext,
    session: AsyncSession,
    *,
    draft_id: str,
    channel_ids: list[str] | None,
    by: Principal,
) -> Draft:
    """Approve the draft and request publication on the chosen channels (all by default);
    `NotAllowed` where the four-eyes rule bars `by` (see `four_eyes`)."""
    draft = await load_pending(session, draft_id)
    incident = await session.get(Incident, draft.incident_id)
    if incident is None:
        raise Conflict("Incident missing", f"Draft {draft_id} has no incident.")
    texts = await texts_of(session, draft_id)
    chosen = _choose(texts, channel_ids, draft_id)
    check_four_eyes(ctx.policy.approval, incident, chosen, by=by)
    now = ctx.clock()
    ref = IncidentRef(
        incident_id=incident.id,
        title=incident.title,
        severity=Severity(incident.severity),
        status=IncidentStatus(draft.incident_status),
    )
    for row in chosen:
        row.message_id = "msg_" + derived_id(draft_id, row.channel_id).replace("-", "")[:20]
        request = PublishRequested(
            message_id=row.message_id,
            channel_id=row.channel_id,
            kind=MessageKind.STATUS_UPDATE,
            text=row.text,
            incident=ref,
            approved_by=by.name,
            requested_at=now,
        )
        ctx.emit(
            session,
            topic=ctx.topics.outbound,
            key=row.channel_id,
            event=CloudEvent.wrap(
                request, source=SOURCE, subject=row.message_id, id=derived_id(row.message_id)
            ),
        )
        session.add(
            Delivery(
                message_id=row.message_id,
                incident_id=incident.id,
                draft_id=draft_id,
                channel_id=row.channel_id,
                state="requested",
                attempts=0,
                updated_at=now,
            )
        )
    after_commit(session, lambda: ctx.waterfall.mark("approved", now))
    channels = [row.channel_id for row in chosen]
    _decide(
        ctx,
        session,
        draft,
        decision="approved",
        by=by,
        text=f"Draft {draft_id} approved for " + ", ".join(channels),
        details={"incident_id": incident.id, "channels": channels},
    )
    return draft


async def approve_by_policy(
    ctx: RouterContext, session: AsyncSession, draft: Draft, *, incident: Incident
) -> bool:
    """Approve a draft just written, for every channel, as `policy`, when the policy approves
    its incident's severity by itself; through `approve`, so its publish requests are staged,
    its deliveries recorded and the decision audited exactly as a duty manager's would be.
    By the highest severity the incident has had: a sev1 lowered to sev4 is still not the
    policy's to approve (nobody at all would have read it)."""
    if not ctx.policy.approval.approves_itself(Severity(incident.highest_severity)):
        return False
    await session.flush()  # the draft and its texts, for `approve` to read back
    try:
        await approve(ctx, session, draft_id=draft.id, channel_ids=None, by=POLICY)
    except DomainError as refused:
        # `approve` refuses before it writes anything, so the draft simply stays pending
        # for a person; the policy's own check (no four-eyes severity) makes this rare.
        log.warning("policy did not approve draft %s: %s", draft.id, refused)
        return False
    return True


async def reject(
    ctx: RouterContext, session: AsyncSession, *, draft_id: str, reason: str, by: Principal
) -> Draft:
    draft = await load_pending(session, draft_id)
    draft.reason = reason
    _decide(
        ctx,
        session,
        draft,
        decision="rejected",
        by=by,
        text=f"Draft {draft_id} rejected: {reason}",
        details={"reason": reason},
    )
    return draft


def _decide(
    ctx: RouterContext,
    session: AsyncSession,
    draft: Draft,
    *,
    decision: str,
    by: Principal,
    text: str,
    details: dict[str, object],
) -> None:
    """Record a duty manager's decision on the draft, its incident's timeline and the audit."""
    now = ctx.clock()
    draft.state = decision
    draft.decided_by = by.name
    draft.decided_at = now
    session.add(
        TimelineEntry(
            incident_id=draft.incident_id, kind=decision, text=text, actor=by.name, at=now
        )
    )
    record_audit(
        ctx,
        session,
        actor=by.name,
        action=f"draft.{decision}",
        entity_type="draft",
        entity_id=draft.id,
        details=details,
    )


def _choose(
    texts: list[DraftText], channel_ids: list[str] | None, draft_id: str
) -> list[DraftText]:
    if channel_ids is None:
        return texts
    by_channel = {row.channel_id: row for row in texts}
    unknown = sorted(set(channel_ids) - set(by_channel))
    if unknown:
        raise Rejected(
            "Unknown channel",
            f"Draft {draft_id} has no text for: {', '.join(unknown)}.",
            channels=sorted(by_channel),
        )
    return [by_channel[c] for c in dict.fromkeys(channel_ids)]
