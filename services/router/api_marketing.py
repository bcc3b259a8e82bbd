"""The marketing calendar API (role marketing) and the pause/resume controls (duty managers)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from services.router import marketing, resume
from services.router.deps import (
    AnyRoleDep,
    ContextDep,
    DutyManagerDep,
    MarketingDep,
    MarketingOrDutyDep,
    ReadSessionDep,
    WriteSessionDep,
)
from services.router.models import MarketingPost
from services.router.schemas_marketing import (
    PauseIn,
    PauseResult,
    PostIn,
    PostOut,
    PostState,
    ResumeIn,
    ResumeResult,
)
from shared.contract.events import Instant
from shared.web.paging import CursorParam, SortKey, fetch_page, link_next
from shared.web.problems import Problem

router = APIRouter(prefix="/v1/marketing", tags=["marketing"])

PostId = Annotated[str, Path(min_length=1, max_length=64)]
CALENDAR_ORDER = [
    SortKey(MarketingPost.publish_at, lambda p: p.publish_at, datetime),
    SortKey(MarketingPost.id, lambda p: p.id),
]


@router.post("/posts", response_model=PostOut, status_code=201)
async def schedule_post(
    body: PostIn, session: WriteSessionDep, ctx: ContextDep, who: MarketingDep
) -> MarketingPost:
    """Schedule a post; its text must fit the channel as the platform counts."""
    return await marketing.schedule_post(ctx, session, body, by=who)


@router.get("/posts", response_model=list[PostOut])
async def list_posts(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    _: AnyRoleDep,
    state: PostState | None = None,
    channel_id: Annotated[str | None, Query(max_length=64)] = None,
    campaign: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Instant | None, Query(description="publish_at ≥ this")] = None,
    until: Annotated[Instant | None, Query(description="publish_at < this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: CursorParam = None,
) -> list[MarketingPost]:
    """Posts in calendar order, filtered by state, channel, campaign and time range; paged."""
    query = select(MarketingPost)
    if state is not None:
        query = query.where(MarketingPost.state == state)
    if channel_id is not None:
        query = query.where(MarketingPost.channel_id == channel_id)
    if campaign is not None:
        query = query.where(MarketingPost.campaign == campaign)
    if since is not None:
        query = query.where(MarketingPost.publish_at >= since)
    if until is not None:
        query = query.where(MarketingPost.publish_at < until)
    posts, following = await fetch_page(session, query, CALENDAR_ORDER, limit=limit, cursor=cursor)
    link_next(request, response, following)
    return posts


@router.get("/posts/{post_id}", response_model=PostOut)
async def get_post(post_id: PostId, session: ReadSessionDep, _: AnyRoleDep) -> MarketingPost:
    post = await session.get(MarketingPost, post_id)
    if post is None:
        raise Problem(404, "Post not found", f"No marketing post {post_id}.")
    return post


@router.delete("/posts/{post_id}", response_model=PostOut)
async def cancel_post(
    post_id: PostId, session: WriteSessionDep, ctx: ContextDep, who: MarketingOrDutyDep
) -> MarketingPost:
    """Cancel a scheduled or held post (409 once it is with the publisher)."""
    return await marketing.cancel_post(ctx, session, post_id, by=who)


@router.post("/pause", response_model=PauseResult)
async def pause_marketing(
    body: PauseIn, session: WriteSessionDep, ctx: ContextDep, who: DutyManagerDep
) -> PauseResult:
    """The big red button: pause marketing everywhere (or on channels/tags), with a reason."""
    return await resume.pause_by_hand(ctx, session, body, by=who)


@router.post("/resume", response_model=ResumeResult)
async def resume_marketing(
    body: ResumeIn, session: WriteSessionDep, ctx: ContextDep, who: DutyManagerDep
) -> ResumeResult:
    """Lift manual pauses and decide what happens to held posts: send now, reschedule,
    cancel or restore. A channel an open incident pauses cannot be resumed (409)."""
    return await resume.resume_by_hand(ctx, session, body, by=who)
