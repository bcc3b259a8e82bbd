"""The marketing calendar: scheduling, cancelling and emitting posts when they fall due.

A post is emitted exactly once per decision to send it: the scheduler claims due posts in
the database (state `scheduled` → `emitted`) in the same transaction that stages their
`publish requested` records in the outbox, so a restart or a second router replica never
emits one twice (PostgreSQL: rows claimed with SKIP LOCKED; SQLite: one writer at a time).
"""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import SOURCE, RouterContext
from services.router.fitting import measure_fitting
from services.router.holds import hold_scheduled_posts, paused_channel_ids
from services.router.models import MarketingPost
from services.router.pauses import active_pauses
from services.router.schemas_marketing import PostIn
from shared.contract.errors import Conflict, NotFound, Rejected
from shared.contract.events import CloudEvent, MessageKind, PublishRequested, derived_id
from shared.runtime.database import Database
from shared.web.auth import Principal

log = logging.getLogger(__name__)

PAST_GRACE = timedelta(minutes=5)
"""A `publish_at` this far in the past is taken as "now" (clock skew, a slow form)."""


async def schedule_post(
    ctx: RouterContext, session: AsyncSession, body: PostIn, *, by: Principal
) -> MarketingPost:
    """Add a post to the calendar; on a paused channel it is held from the start."""
    now = ctx.clock()
    channel = ctx.channel(body.channel_id)
    if channel is None:
        known = [c.id for c in ctx.channels if c.marketing]
        raise Rejected(
            "Unknown channel", f"No channel {body.channel_id!r}.", marketing_channels=known
        )
    if not channel.marketing:
        raise Rejected(
            "Channel takes no marketing",
            f"Channel {channel.id!r} is not open to marketing posts (marketing: false).",
        )
    if body.publish_at < now - PAST_GRACE:
        raise Rejected(
            "publish_at is in the past",
            f"publish_at {body.publish_at.isoformat()} is more than "
            f"{int(PAST_GRACE.total_seconds() // 60)} minutes ago.",
        )
    measure_fitting(channel, body.text)
    pauses = (await active_pauses(session, [channel.id])).get(channel.id, [])
    post_id = "mkt_" + uuid.uuid4().hex[:20]
    post = MarketingPost(
        id=post_id,
        channel_id=channel.id,
        text=body.text,
        campaign=body.campaign,
        publish_at=body.publish_at,
        state="held" if pauses else "scheduled",
        message_id="msg_" + post_id.removeprefix("mkt_"),
        emissions=0,
        detail=f"paused: {pauses[-1].reason}" if pauses else None,
        created_by=by.name,
        created_at=now,
        updated_at=now,
    )
    session.add(post)  # who scheduled it and when are on the row itself
    return post


async def cancel_post(
    ctx: RouterContext, session: AsyncSession, post_id: str, *, by: Principal
) -> MarketingPost:
    """Cancel a scheduled or held post; one already handed to the publisher is a 409."""
    post = await session.get(MarketingPost, post_id, with_for_update=True)
    if post is None:
        raise NotFound("Post not found", f"No marketing post {post_id}.")
    if post.state == "cancelled":
        return post
    if post.state not in ("scheduled", "held"):
        raise Conflict(
            "Post cannot be cancelled",
            f"Post {post_id} is {post.state}; only scheduled or held posts can be cancelled.",
            state=post.state,
        )
    post.state = "cancelled"
    post.detail = f"cancelled by {by.name}"
    post.updated_at = ctx.clock()
    record_audit(
        ctx,
        session,
        actor=by.name,
        action="marketing.cancelled",
        entity_type="marketing_post",
        entity_id=post_id,
        details={"channel_id": post.channel_id},
    )
    return post


def emit_post(
    ctx: RouterContext, session: AsyncSession, post: MarketingPost, *, now: datetime
) -> None:
    """Hand the post to the publisher (state `emitted`), staged in the session's transaction."""
    post.state = "emitted"
    post.emissions += 1
    post.detail = None
    post.updated_at = now
    request = PublishRequested(
        message_id=post.message_id,
        channel_id=post.channel_id,
        kind=MessageKind.MARKETING,
        text=post.text,
        post_id=post.id,
        requested_at=now,
    )
    ctx.emit(
        session,
        topic=ctx.topics.outbound,
        key=post.channel_id,
        event=CloudEvent.wrap(
            request,
            source=SOURCE,
            subject=post.message_id,
            id=derived_id(post.message_id, "emission", str(post.emissions)),
        ),
    )


async def emit_due_posts(
    ctx: RouterContext, database: Database, *, batch: int = 500
) -> tuple[int, float | None]:
    """One scheduler round: emit up to `batch` due posts; returns (emitted, seconds until the
    next post falls due, or None if nothing is scheduled)."""
    now = ctx.clock()
    async with database.transaction() as session:
        # Due posts scheduled while a pause was being committed (PostgreSQL lets the two
        # interleave) are held here, so the scheduler never emits onto a paused channel.
        await hold_scheduled_posts(
            session, paused_channel_ids(), reason="paused: channel paused", now=now, due_by=now
        )
        due = (
            await session.scalars(
                select(MarketingPost)
                .where(MarketingPost.state == "scheduled", MarketingPost.publish_at <= now)
                .order_by(MarketingPost.publish_at, MarketingPost.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for post in due:
            emit_post(ctx, session, post, now=now)
        following = await session.scalar(
            select(MarketingPost.publish_at)
            .where(MarketingPost.state == "scheduled", MarketingPost.publish_at > now)
            .order_by(MarketingPost.publish_at)
            .limit(1)
        )
    if due:
        log.info("emitted %d due marketing posts", len(due))
    if len(due) == batch:
        return len(due), 0.0
    return len(due), None if following is None else (following - now).total_seconds()
