"""The router's HTTP routes for duty managers: incidents, drafts, channels."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from services.router import approvals, read_models
from services.router.deps import (
    AnyRoleDep,
    ContextDep,
    DutyManagerDep,
    ReadSessionDep,
    WriteSessionDep,
)
from services.router.models import Incident
from services.router.schemas import (
    ApproveIn,
    ChannelOut,
    DraftEdit,
    DraftOut,
    DraftState,
    IncidentDetailOut,
    IncidentOut,
    RejectIn,
)
from shared.web.paging import CursorParam, SortKey, fetch_page, link_next
from shared.web.problems import Problem

router = APIRouter(prefix="/v1")

DraftId = Annotated[str, Path(min_length=1, max_length=64)]
INCIDENT_ORDER = [
    SortKey(Incident.opened_at, lambda i: i.opened_at, datetime, descending=True),
    SortKey(Incident.id, lambda i: i.id, descending=True),
]


@router.get("/incidents", response_model=list[IncidentOut], tags=["incidents"])
async def list_incidents(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    _: AnyRoleDep,
    state: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorParam = None,
) -> list[Incident]:
    """Incidents, newest first; `state=open` or `state=resolved` to filter; paged."""
    query = select(Incident)
    if state == "open":
        query = query.where(Incident.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(Incident.resolved_at.is_not(None))
    rows, following = await fetch_page(session, query, INCIDENT_ORDER, limit=limit, cursor=cursor)
    link_next(request, response, following)
    return rows


@router.get("/incidents/{incident_id}", response_model=IncidentDetailOut, tags=["incidents"])
async def get_incident(
    incident_id: Annotated[str, Path(max_length=64)], session: ReadSessionDep, _: AnyRoleDep
) -> IncidentDetailOut:
    """One incident with its timeline, drafts, deliveries and pauses."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise Problem(404, "Incident not found", f"No incident {incident_id}.")
    return await read_models.incident_detail(session, incident)


@router.get("/drafts", response_model=list[DraftOut], tags=["drafts"])
async def list_drafts(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    ctx: ContextDep,
    _: AnyRoleDep,
    state: DraftState | None = None,
    incident_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorParam = None,
) -> list[DraftOut]:
    """Drafts, overdue ones first, then oldest first (the one waiting longest comes first);
    paged (each draft carries all its texts, hence the smaller pages)."""
    drafts, following = await read_models.drafts_page(
        session, state=state, incident_id=incident_id, limit=limit, cursor=cursor, now=ctx.clock()
    )
    link_next(request, response, following)
    return drafts


@router.patch("/drafts/{draft_id}", response_model=DraftOut, tags=["drafts"])
async def edit_draft(
    draft_id: DraftId,
    body: DraftEdit,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: DutyManagerDep,
) -> DraftOut:
    """Replace one channel's text of a pending draft, in one of its languages."""
    draft = await approvals.edit_text(
        ctx,
        session,
        draft_id=draft_id,
        channel_id=body.channel_id,
        text=body.text,
        by=who,
        language=body.language,
    )
    return (await read_models.draft_views(session, [draft]))[0]


@router.post("/drafts/{draft_id}/approve", response_model=DraftOut, tags=["drafts"])
async def approve_draft(
    draft_id: DraftId,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: DutyManagerDep,
    body: ApproveIn | None = None,
) -> DraftOut:
    """Approve a pending draft for all its channels, or only `channels`."""
    channels = body.channels if body else None
    draft = await approvals.approve(ctx, session, draft_id=draft_id, channel_ids=channels, by=who)
    return (await read_models.draft_views(session, [draft]))[0]


@router.post("/drafts/{draft_id}/reject", response_model=DraftOut, tags=["drafts"])
async def reject_draft(
    draft_id: DraftId,
    body: RejectIn,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: DutyManagerDep,
) -> DraftOut:
    """Reject a pending draft, saying why."""
    draft = await approvals.reject(ctx, session, draft_id=draft_id, reason=body.reason, by=who)
    return (await read_models.draft_views(session, [draft]))[0]


@router.get("/channels", response_model=list[ChannelOut], tags=["channels"])
async def list_channels(
    session: ReadSessionDep, ctx: ContextDep, _: AnyRoleDep
) -> list[ChannelOut]:
    """Every configured channel with its pause state and why."""
    return await read_models.channel_views(ctx, session)
