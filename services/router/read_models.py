"""Read models: incidents with their timeline, drafts, deliveries and pauses."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import RouterContext
from services.router.models import (
    ChannelPause,
    Delivery,
    Draft,
    DraftText,
    Incident,
    MarketingPost,
    TimelineEntry,
)
from services.router.schemas import (
    ChannelOut,
    DeliveryOut,
    DraftOut,
    DraftTextOut,
    IncidentDetailOut,
    IncidentOut,
    PauseOut,
    TimelineOut,
)
from shared.contract.events import utcnow

_COMPUTED = {"texts", "overdue", "age_seconds"}


async def draft_views(
    session: AsyncSession, drafts: list[Draft], *, now: datetime | None = None
) -> list[DraftOut]:
    """Drafts with their texts; `now` (default: the time now) dates pending drafts' age."""
    if not drafts:
        return []
    rows = await session.scalars(
        select(DraftText)
        .where(DraftText.draft_id.in_([d.id for d in drafts]))
        .order_by(DraftText.channel_id)
    )
    texts: dict[str, list[DraftTextOut]] = {}
    for row in rows:
        texts.setdefault(row.draft_id, []).append(DraftTextOut.model_validate(row))
    now = now or utcnow()
    return [
        DraftOut.model_validate(
            {
                **{k: getattr(d, k) for k in DraftOut.model_fields if k not in _COMPUTED},
                "overdue": d.state == "pending" and d.overdue_at is not None,
                "age_seconds": _age_seconds(d, now),
                "texts": texts.get(d.id, []),
            }
        )
        for d in drafts
    ]


def _age_seconds(draft: Draft, now: datetime) -> int:
    """A pending draft's wait so far; a decided one's wait until its decision."""
    end = draft.decided_at if draft.state != "pending" and draft.decided_at else now
    return max(0, int((end - draft.created_at).total_seconds()))


async def incident_detail(session: AsyncSession, incident: Incident) -> IncidentDetailOut:
    timeline = await session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id)
        .order_by(TimelineEntry.id)
    )
    drafts = await session.scalars(
        select(Draft).where(Draft.incident_id == incident.id).order_by(Draft.created_at)
    )
    deliveries = await session.scalars(
        select(Delivery).where(Delivery.incident_id == incident.id).order_by(Delivery.channel_id)
    )
    pauses = await session.scalars(
        select(ChannelPause)
        .where(ChannelPause.incident_id == incident.id)
        .order_by(ChannelPause.id)
    )
    base = IncidentOut.model_validate(incident).model_dump()
    return IncidentDetailOut(
        **base,
        timeline=[TimelineOut.model_validate(t) for t in timeline],
        drafts=await draft_views(session, list(drafts.all())),
        deliveries=[DeliveryOut.model_validate(d) for d in deliveries],
        pauses=[PauseOut.model_validate(p) for p in pauses],
    )


async def channel_views(ctx: RouterContext, session: AsyncSession) -> list[ChannelOut]:
    """Every channel, whether it is paused and by whom, and its held and scheduled posts."""
    active = await session.scalars(
        select(ChannelPause).where(ChannelPause.released_at.is_(None)).order_by(ChannelPause.id)
    )
    by_channel: dict[str, list[PauseOut]] = {}
    for pause in active:
        by_channel.setdefault(pause.channel_id, []).append(PauseOut.model_validate(pause))
    counts: dict[tuple[str, str], int] = {
        (channel_id, state): count
        for channel_id, state, count in await session.execute(
            select(MarketingPost.channel_id, MarketingPost.state, func.count())
            .where(MarketingPost.state.in_(("held", "scheduled")))
            .group_by(MarketingPost.channel_id, MarketingPost.state)
        )
    }
    return [
        ChannelOut(
            id=c.id,
            type=c.type.value,
            name=c.name,
            marketing=c.marketing,
            paused=bool(by_channel.get(c.id)),
            pauses=by_channel.get(c.id, []),
            held_posts=counts.get((c.id, "held"), 0),
            scheduled_posts=counts.get((c.id, "scheduled"), 0),
        )
        for c in ctx.channels
    ]
