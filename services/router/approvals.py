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
from services.router.multilingual import Post, posts_for
from shared.contract.errors import Conflict, DomainError, NotFound, Rejected
from shared.contract.events import (
    CloudEvent,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequestedV2,
    Severity,
    derived_id,
)
from shared.contract.textlength import Measured
from shared.runtime.database import after_commit
from shared.runtime.tracing import resumed
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
        select(DraftText)
        .where(DraftText.draft_id == draft_id)
        .order_by(DraftText.channel_id, DraftText.id)
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
    language: str | None = None,
) -> Draft:
    """Replace one channel's text in one language (its main one when none is named)."""
    draft = await load_pending(session, draft_id)
    rows = [row for row in await texts_of(session, draft_id) if row.channel_id == channel_id]
    row = next((r for r in rows if language in (None, r.language)), None)
    if row is None:
        raise Rejected(
            "Unknown channel",
            f"Draft {draft_id} has no text for {channel_id!r}"
            + (f" in {language!r}." if language and rows else "."),
            languages=[r.language for r in rows],
        )
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
        details={
            "channel_id": channel_id,
            "language": row.language,
            "before": before,
            "after": text,
        },
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
    link = ctx.incident_link(incident.id)
    for channel_id, rows in _by_channel(chosen).items():
        posts = posts_for(ctx.channel(channel_id), rows, link=link)
        for post in posts:
            message_id = _message_id(draft_id, channel_id, post, whole=len(posts) == 1)
            post.rows[0].message_id = message_id
            request = PublishRequestedV2(
                message_id=message_id,
                channel_id=channel_id,
                kind=MessageKind.STATUS_UPDATE,
                text=post.text,
                incident=ref,
                approved_by=by.name,
                requested_at=now,
                languages=post.languages,
            )
            with resumed("approve", incident_id=incident.id, message_id=message_id):
                ctx.emit(
                    session,
                    topic=ctx.topics.outbound,
                    key=channel_id,
                    event=CloudEvent.wrap(
                        request, source=SOURCE, subject=message_id, id=derived_id(message_id)
                    ),
                )
            session.add(
                Delivery(
                    message_id=message_id,
                    incident_id=incident.id,
                    draft_id=draft_id,
                    channel_id=channel_id,
                    state="requested",
                    attempts=0,
                    updated_at=now,
                )
            )
    after_commit(session, lambda: ctx.waterfall.mark("approved", now))
    channels = list(dict.fromkeys(row.channel_id for row in chosen))
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
        log.warning(
            "policy did not approve draft %s: %s", draft.id, refused, extra={"draft_id": draft.id}
        )
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
    """The chosen texts (all by default): a channel's id chooses every language of it,
    `channel:language` that one language."""
    if channel_ids is None:
        return texts
    keys = {row.channel_id for row in texts} | {f"{r.channel_id}:{r.language}" for r in texts}
    unknown = sorted(set(channel_ids) - keys)
    if unknown:
        raise Rejected(
            "Unknown channel",
            f"Draft {draft_id} has no text for: {', '.join(unknown)}.",
            channels=sorted(keys),
        )
    order = list(dict.fromkeys(entry.partition(":")[0] for entry in channel_ids))
    wanted = set(channel_ids)
    return sorted(
        (r for r in texts if r.channel_id in wanted or f"{r.channel_id}:{r.language}" in wanted),
        key=lambda row: order.index(row.channel_id),
    )


def _by_channel(rows: list[DraftText]) -> dict[str, list[DraftText]]:
    """Rows by channel, each channel's in the order it was drafted (its main language first)."""
    grouped: dict[str, list[DraftText]] = {}
    for row in sorted(rows, key=lambda r: r.id or 0):
        grouped.setdefault(row.channel_id, []).append(row)
    return {
        channel_id: grouped[channel_id] for channel_id in dict.fromkeys(r.channel_id for r in rows)
    }


def _message_id(draft_id: str, channel_id: str, post: Post, *, whole: bool) -> str:
    """Stable per draft, channel and post: a channel's only post keeps the id it had before
    languages (one per draft and channel); one of several is told apart by its language."""
    parts = (draft_id, channel_id) if whole else (draft_id, channel_id, *post.languages)
    return "msg_" + derived_id(*parts).replace("-", "")[:20]
