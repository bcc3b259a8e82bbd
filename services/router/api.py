"""The router's HTTP routes for duty managers: incidents, drafts, channels."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import and_, case, select

from services.router import approvals, read_models
from services.router.deps import (
    AnyRoleDep,
    ContextDep,
    DutyManagerDep,
    ReadSessionDep,
    WriteSessionDep,
)
from services.router.models import Draft, Incident
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
from shared.web.problems import Problem

router = APIRouter(prefix="/v1")

DraftId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/incidents", response_model=list[IncidentOut], tags=["incidents"])
async def list_incidents(
    session: ReadSessionDep,
    _: AnyRoleDep,
    state: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Incident]:
    """Incidents, newest first; `state=open` or `state=resolved` to filter."""
    query = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
    if state == "open":
        query = query.where(Incident.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(Incident.resolved_at.is_not(None))
    return list((await session.scalars(query)).all())


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
    session: ReadSessionDep,
    ctx: ContextDep,
    _: AnyRoleDep,
    state: DraftState | None = None,
    incident_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[DraftOut]:
    """Drafts, overdue ones first, then oldest first (the one waiting longest comes first)."""
    overdue = and_(Draft.state == "pending", Draft.overdue_at.is_not(None))
    query = select(Draft).order_by(case((overdue, 0), else_=1), Draft.created_at, Draft.id)
    if state is not None:
        query = query.where(Draft.state == state)
    if incident_id is not None:
        query = query.where(Draft.incident_id == incident_id)
    drafts = list((await session.scalars(query)).all())
    return await read_models.draft_views(session, drafts, now=ctx.clock())


@router.patch("/drafts/{draft_id}", response_model=DraftOut, tags=["drafts"])
async def edit_draft(
    draft_id: DraftId,
    body: DraftEdit,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: DutyManagerDep,
) -> DraftOut:
    """Replace one channel's text of a pending draft."""
    draft = await approvals.edit_text(
        ctx, session, draft_id=draft_id, channel_id=body.channel_id, text=body.text, by=who
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
