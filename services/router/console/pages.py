"""The console's pages: incidents, a draft, the marketing board, the audit trail; and the two
small endpoints its JavaScript polls (a text's count, a draft's deliveries)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.router.console import queries
from services.router.console.session import CSRF_HEADER
from services.router.console.web import (
    Viewer,
    context_of,
    render,
    runtime_of,
    secure,
    signed_in,
    signer_of,
    templates,
    viewer,
)
from services.router.models import Draft, Incident

router = APIRouter()

ViewerDep = Annotated[Viewer, Depends(viewer)]
Id = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("")
async def overview(request: Request, who: ViewerDep) -> Response:
    """The first screen: open incidents by severity and age, drafts waiting (overdue first)."""
    async with runtime_of(request).database.reader() as session:
        data = await queries.overview(context_of(request), session, who.principal)
    return render(request, "overview.html", {"data": data, "section": "incidents"}, who=who)


@router.get("/incidents/{incident_id}")
async def incident(request: Request, incident_id: Id, who: ViewerDep) -> Response:
    """One incident: its pending draft, deliveries, pauses, timeline and audit trail."""
    async with runtime_of(request).database.reader() as session:
        found = await session.get(Incident, incident_id)
        if found is None:
            return not_found(request, who, f"There is no incident {incident_id}.")
        page = await queries.incident_page(context_of(request), session, found)
    context = {"page": page, "incident": page.detail, "section": "incidents"}
    return render(request, "incident.html", context, who=who)


async def draft_response(
    request: Request,
    who: Viewer,
    draft_id: str,
    *,
    submitted: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The draft page, with the texts just submitted (and why they were refused) if any."""
    async with runtime_of(request).database.reader() as session:
        draft = await session.get(Draft, draft_id)
        if draft is None:
            return not_found(request, who, f"There is no draft {draft_id}.")
        page = await queries.draft_page(context_of(request), session, draft, submitted=submitted)
    context = {
        "page": page,
        "chosen": chosen,
        "section": "incidents",
        "deliveries": page.deliveries,
        "draft_id": draft_id,
        "names": {c.id: c.name for c in context_of(request).channels},
        "final": queries.FINAL_DELIVERY,
    }
    return render(request, "draft.html", context, who=who, error=error, status_code=status_code)


@router.get("/drafts/{draft_id}")
async def draft(request: Request, draft_id: Id, who: ViewerDep) -> Response:
    """A draft: each channel's text in an editor with its count, approve or reject."""
    return await draft_response(request, who, draft_id)


@router.get("/drafts/{draft_id}/deliveries")
async def deliveries(request: Request, draft_id: Id, who: ViewerDep) -> Response:
    """The delivery panel alone, polled every 2 s until every channel has a final outcome."""
    async with runtime_of(request).database.reader() as session:
        rows = await queries.deliveries_of(session, draft_id)
    names = {c.id: c.name for c in context_of(request).channels}
    response = templates.TemplateResponse(
        request,
        "_deliveries.html",
        {"deliveries": rows, "draft_id": draft_id, "names": names, "final": queries.FINAL_DELIVERY},
    )
    return secure(response)


@router.get("/marketing")
async def marketing(request: Request, who: ViewerDep) -> Response:
    """Every channel's pause state and why, the held posts, resume choices, the red button."""
    async with runtime_of(request).database.reader() as session:
        board = await queries.marketing_board(context_of(request), session)
    return render(request, "marketing.html", {"board": board, "section": "marketing"}, who=who)


@router.get("/audit")
async def audit(request: Request, who: ViewerDep) -> Response:
    """The latest 200 entries of the audit log, newest first."""
    async with runtime_of(request).database.reader() as session:
        lines = await queries.recent_audit(session)
    return render(request, "audit.html", {"lines": lines, "section": "audit"}, who=who)


class CountIn(BaseModel):
    channel_id: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=100_000)


@router.post("/count")
async def count(request: Request, body: CountIn) -> JSONResponse:
    """A text's length as its channel counts it: the same rule the server enforces on edit
    and approval (`fitting.channel_limit`), so the editor's counter never disagrees."""
    found = await signed_in(request)
    if found is None:
        return JSONResponse({"error": "Sign in again."}, status_code=401)
    if not signer_of(request).csrf_ok(found[1], request.headers.get(CSRF_HEADER)):
        return JSONResponse({"error": "Reload the page."}, status_code=403)
    measured = queries.measure(context_of(request), body.channel_id, body.text)
    if measured is None:
        return JSONResponse({"error": f"No channel {body.channel_id}."}, status_code=404)
    return JSONResponse(
        {
            "length": measured.length,
            "limit": measured.limit,
            "unit": measured.unit,
            "rule": measured.rule,
            "over": measured.over,
            "fits": measured.over == 0,
            "links": measured.links,
        },
        headers={"Cache-Control": "no-store"},
    )


def not_found(request: Request, who: Viewer, message: str) -> Response:
    return render(
        request, "message.html", {"title": "Not found"}, who=who, error=message, status_code=404
    )
