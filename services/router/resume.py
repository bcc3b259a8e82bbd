"""After a pause: a person's decision on held posts (send now, reschedule, cancel, restore),
the manual big red button, and the policy's optional automatic resume after a cool-down.

Held posts never go out in a burst by themselves: releasing the last pause only tells the
publisher the channel is open again; the posts it held wait here for a decision.
"""

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import RouterContext
from services.router.marketing import emit_post
from services.router.models import MarketingPost
from services.router.pauses import active_pauses, last_release, pause_channels, release_pauses
from services.router.schemas_marketing import (
    Choice,
    PauseIn,
    PauseResult,
    ResumeAction,
    ResumeIn,
    ResumeResult,
    StillPaused,
)
from shared.contract.channels import ChannelConfig
from shared.contract.errors import Conflict, Rejected
from shared.runtime.database import Database
from shared.web.auth import Principal

log = logging.getLogger(__name__)


async def pause_by_hand(
    ctx: RouterContext, session: AsyncSession, body: PauseIn, *, by: Principal
) -> PauseResult:
    """The big red button: pause marketing on every channel, or on some channels or tags."""
    channels = _marketing_channels(ctx, body.channels)
    if body.tags is not None:
        regions, departments = set(body.tags.regions), set(body.tags.departments)
        channels = [
            c
            for c in channels
            if regions & set(c.tags.regions) or departments & set(c.tags.departments)
        ]
        if not channels:
            raise Rejected("No channel matches", "No marketing channel carries those tags.")
    targets = [c.id for c in channels]
    paused = await pause_channels(
        ctx,
        session,
        targets,
        incident_id=None,
        reason=f"{body.reason} (paused by {by.name})",
        actor=by.name,
        cause_id="manual-" + uuid.uuid4().hex,
        now=ctx.clock(),
    )
    return PauseResult(paused=paused.channels, held_posts=paused.held_posts)


async def resume_by_hand(
    ctx: RouterContext, session: AsyncSession, body: ResumeIn, *, by: Principal
) -> ResumeResult:
    """Release manual pauses on the channels and apply the choices to their held posts."""
    now = ctx.clock()
    requested = [c.id for c in _marketing_channels(ctx, body.channels)]
    by_incident = {
        channel_id: sorted({p.incident_id for p in pauses if p.incident_id is not None})
        for channel_id, pauses in (await active_pauses(session, requested)).items()
    }
    still_paused = [StillPaused(channel_id=c, incident_ids=i) for c, i in by_incident.items() if i]
    if body.channels is not None and still_paused:
        raise Conflict(
            "Channel still paused by an incident",
            "; ".join(f"{s.channel_id}: {', '.join(s.incident_ids)}" for s in still_paused)
            + ". Resolve the incident first.",
            still_paused=[s.model_dump() for s in still_paused],
        )
    open_channels = [c for c in requested if not by_incident.get(c)]
    resumed = await release_pauses(
        ctx,
        session,
        channel_ids=open_channels,
        actor=by.name,
        cause_id="resume-" + uuid.uuid4().hex,
        now=now,
    )
    held = await _held_posts(session, open_channels)
    choices = _choices_for(held, body, blocked={s.channel_id for s in still_paused})
    counts = apply_choices(ctx, session, choices, now=now)
    record_audit(
        ctx,
        session,
        actor=by.name,
        action="marketing.resumed",
        entity_type="channel",
        entity_id=",".join(open_channels)[:64] or "none",
        details={"channels": open_channels, "note": body.note, **counts},
    )
    return ResumeResult(
        resumed=resumed,
        still_paused=still_paused,
        sent=counts["send_now"],
        rescheduled=counts["reschedule"],
        cancelled=counts["cancel"],
        restored=counts["restore"],
        still_held=len(held) - sum(counts.values()),
    )


def apply_choices(
    ctx: RouterContext,
    session: AsyncSession,
    choices: list[tuple[MarketingPost, Choice]],
    *,
    now: datetime,
) -> dict[str, int]:
    """Carry out each post's choice; returns how many posts each action took."""
    counts: Counter[str] = Counter({action.value: 0 for action in ResumeAction})
    spread = _spread_slots(choices, now)
    for post, choice in choices:
        if choice.action is ResumeAction.SEND_NOW:
            emit_post(ctx, session, post, now=now)
        elif choice.action is ResumeAction.CANCEL:
            post.state, post.detail = "cancelled", "cancelled on resume"
        elif choice.action is ResumeAction.RESCHEDULE:
            post.state, post.detail, post.publish_at = "scheduled", None, spread[post.id]
        elif post.publish_at > now:
            post.state, post.detail = "scheduled", None
        else:
            continue  # restore leaves an overdue post held: it needs its own choice
        post.updated_at = now
        counts[choice.action.value] += 1
    return dict(counts)


def _spread_slots(
    choices: list[tuple[MarketingPost, Choice]], now: datetime
) -> dict[str, datetime]:
    """New times for rescheduled posts: `at`, or evenly over `spread_minutes` from `at`/now,
    in their original order, so a backlog trickles out instead of bursting."""
    slots: dict[str, datetime] = {}
    groups: dict[tuple[datetime | None, int | None], list[MarketingPost]] = {}
    for post, choice in choices:
        if choice.action is ResumeAction.RESCHEDULE:
            groups.setdefault((choice.at, choice.spread_minutes), []).append(post)
    for (at, minutes), posts in groups.items():
        start = max(at or now, now)
        step = timedelta(minutes=minutes or 0) / len(posts)
        for index, post in enumerate(sorted(posts, key=lambda p: (p.publish_at, p.id))):
            slots[post.id] = start + step * index
    return slots


def _choices_for(
    held: list[MarketingPost], body: ResumeIn, *, blocked: set[str]
) -> list[tuple[MarketingPost, Choice]]:
    """Pair each held post with its own choice, else the choice for all (if any)."""
    by_id = {post.id: post for post in held}
    own = {choice.post_id: choice for choice in body.posts}
    unknown = sorted(set(own) - set(by_id))
    if unknown:
        raise Rejected(
            "Post not held",
            "These posts are not held on a channel being resumed: " + ", ".join(unknown[:20]),
            posts=unknown[:100],
            paused_channels=sorted(blocked),
        )
    chosen: list[tuple[MarketingPost, Choice]] = []
    for post in held:
        choice = own.get(post.id) or body.all_posts
        if choice is not None:
            chosen.append((post, choice))
    return chosen


async def auto_resume(ctx: RouterContext, database: Database) -> int:
    """The policy's cool-down: once no pause has held a channel for `auto_after_minutes`,
    its held posts return to the calendar (overdue ones spread over `spread_minutes`)."""
    minutes = ctx.policy.resume.auto_after_minutes
    if minutes is None:
        return 0
    now = ctx.clock()
    done = 0
    async with database.transaction() as session:
        channels = (
            await session.scalars(
                select(MarketingPost.channel_id).where(MarketingPost.state == "held").distinct()
            )
        ).all()
        paused = await active_pauses(session, list(channels))
        for channel_id in channels:
            released = await last_release(session, channel_id)
            if channel_id in paused or released is None:
                continue
            if released + timedelta(minutes=minutes) > now:
                continue
            done += await _resume_channel_automatically(ctx, session, channel_id, now=now)
    return done


async def _resume_channel_automatically(
    ctx: RouterContext, session: AsyncSession, channel_id: str, *, now: datetime
) -> int:
    held = await _held_posts(session, [channel_id])
    if not held:
        return 0  # another replica resumed them while this one looked (its lock came first)
    spread = Choice(action=ResumeAction.RESCHEDULE, spread_minutes=ctx.policy.resume.spread_minutes)
    restore = Choice(action=ResumeAction.RESTORE)
    choices = [(p, restore if p.publish_at > now else spread) for p in held]
    counts = apply_choices(ctx, session, choices, now=now)
    record_audit(
        ctx,
        session,
        actor="policy",
        action="marketing.resumed",
        entity_type="channel",
        entity_id=channel_id,
        details={"channels": [channel_id], "automatic": True, **counts},
    )
    log.info("channel=%s held posts resumed after the cool-down: %s", channel_id, counts)
    return len(held)


def _marketing_channels(ctx: RouterContext, channel_ids: list[str] | None) -> list[ChannelConfig]:
    """The named channels (each must exist and take marketing), or every marketing channel."""
    marketing = {c.id: c for c in ctx.channels if c.marketing}
    if channel_ids is None:
        return list(marketing.values())
    unknown = [c for c in dict.fromkeys(channel_ids) if c not in marketing]
    if unknown:
        raise Rejected(
            "Unknown channel",
            "Not marketing channels: " + ", ".join(unknown),
            marketing_channels=list(marketing),
        )
    return [marketing[c] for c in dict.fromkeys(channel_ids)]


async def _held_posts(session: AsyncSession, channel_ids: list[str]) -> list[MarketingPost]:
    rows = await session.scalars(
        select(MarketingPost)
        .where(MarketingPost.channel_id.in_(channel_ids), MarketingPost.state == "held")
        .order_by(MarketingPost.publish_at, MarketingPost.id)
        .with_for_update()
    )
    return list(rows.all())
