"""Read models: incidents with their timeline, drafts, deliveries and pauses."""

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, select
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
from shared.web.paging import SortKey, fetch_page

T = TypeVar("T")
_COMPUTED = {"texts", "overdue", "age_seconds"}
DETAIL_LIMIT = 100
"""An incident's view shows at most this many of each list, the newest (see `truncated`)."""


async def draft_views(
    session: AsyncSession, drafts: list[Draft], *, now: datetime | None = None
) -> list[DraftOut]:
    """Drafts with their texts; `now` (default: the time now) dates pending drafts' age."""
    if not drafts:
        return []
    rows = await session.scalars(
        select(DraftText)
        .where(DraftText.draft_id.in_([d.id for d in drafts]))
        .order_by(DraftText.channel_id, DraftText.id)  # a channel's main language first
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


_OVERDUE = and_(Draft.state == "pending", Draft.overdue_at.is_not(None))
DRAFT_ORDER = [  # overdue first, then the one waiting longest
    SortKey(
        case((_OVERDUE, 0), else_=1),
        lambda d: 0 if d.overdue_at and d.state == "pending" else 1,
        int,
    ),
    SortKey(Draft.created_at, lambda d: d.created_at, datetime),
    SortKey(Draft.id, lambda d: d.id),
]


async def drafts_page(
    session: AsyncSession,
    *,
    state: str | None,
    incident_id: str | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[list[DraftOut], str | None]:
    """Drafts in `DRAFT_ORDER`, filtered; a page of them and the next cursor."""
    query = select(Draft)
    if state is not None:
        query = query.where(Draft.state == state)
    if incident_id is not None:
        query = query.where(Draft.incident_id == incident_id)
    drafts, following = await fetch_page(session, query, DRAFT_ORDER, limit=limit, cursor=cursor)
    return await draft_views(session, drafts, now=now), following


def _age_seconds(draft: Draft, now: datetime) -> int:
    """A pending draft's wait so far; a decided one's wait until its decision."""
    end = draft.decided_at if draft.state != "pending" and draft.decided_at else now
    return max(0, int((end - draft.created_at).total_seconds()))


async def _newest(session: AsyncSession, query: Select[T], *newest_first: Any) -> list[T]:
    """The `DETAIL_LIMIT + 1` newest rows of `query` (one more, to tell it was cut)."""
    rows = await session.scalars(query.order_by(*newest_first).limit(DETAIL_LIMIT + 1))
    return list(rows.all())


async def incident_detail(session: AsyncSession, incident: Incident) -> IncidentDetailOut:
    """The incident with the newest `DETAIL_LIMIT` of each of its lists, in reading order;
    `truncated` names the lists that have more (paged: `/v1/drafts?incident_id=`)."""
    lists: dict[str, list[Any]] = {
        "timeline": await _newest(
            session,
            select(TimelineEntry).where(TimelineEntry.incident_id == incident.id),
            TimelineEntry.id.desc(),
        ),
        "drafts": await _newest(
            session,
            select(Draft).where(Draft.incident_id == incident.id),
            Draft.created_at.desc(),
            Draft.id.desc(),
        ),
        "deliveries": await _newest(
            session,
            select(Delivery).where(Delivery.incident_id == incident.id),
            Delivery.updated_at.desc(),
        ),
        "pauses": await _newest(
            session,
            select(ChannelPause).where(ChannelPause.incident_id == incident.id),
            ChannelPause.id.desc(),
        ),
    }
    truncated = sorted(name for name, rows in lists.items() if len(rows) > DETAIL_LIMIT)
    shown = {name: rows[:DETAIL_LIMIT][::-1] for name, rows in lists.items()}
    deliveries = sorted(shown["deliveries"], key=lambda d: d.channel_id)
    base = IncidentOut.model_validate(incident).model_dump()
    return IncidentDetailOut(
        **base,
        timeline=[TimelineOut.model_validate(t) for t in shown["timeline"]],
        drafts=await draft_views(session, shown["drafts"]),
        deliveries=[DeliveryOut.model_validate(d) for d in deliveries],
        pauses=[PauseOut.model_validate(p) for p in shown["pauses"]],
        truncated=truncated,
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
