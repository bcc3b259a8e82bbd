"""The console's forms: edit, approve and reject a draft; pause and resume marketing.

Each calls the same domain functions as the JSON API (`approvals`, `resume`) with the
signed-in person, inside one transaction: a refusal rolls everything back and is shown on
the page with what was typed still in place.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.router import approvals, resume
from services.router.console import queries
from services.router.console.pages import draft_response
from services.router.console.web import (
    CsrfRefused,
    NotAllowed,
    Refusal,
    Viewer,
    check_csrf,
    context_of,
    first,
    form_of,
    in_transaction,
    redirect,
    render,
    require_duty_manager,
    runtime_of,
    viewer,
)
from services.router.schemas_marketing import Choice, PauseIn, PostChoice, ResumeIn
from shared.web.problems import Problem

router = APIRouter()

ViewerDep = Annotated[Viewer, Depends(viewer)]
Id = Annotated[str, Path(min_length=1, max_length=64)]
TEXT_PREFIX = "text:"
POST_PREFIX = "post:"


def _texts(form: dict[str, list[str]]) -> dict[str, str]:
    """Each text as typed, by `channel:language` (browsers send CRLF line breaks; the
    platforms get LF)."""
    return {
        key.removeprefix(TEXT_PREFIX): values[0].replace("\r\n", "\n")
        for key, values in form.items()
        if key.startswith(TEXT_PREFIX)
    }


async def _save_edits(
    request: Request, session: AsyncSession, who: Viewer, *, draft_id: str, texts: dict[str, str]
) -> list[str]:
    """Edit the texts that changed (each edit audited); returns them as `channel (language)`.
    A field named by the channel alone is its main language (the first drafted)."""
    ctx = context_of(request)
    rows = await approvals.texts_of(session, draft_id)
    by_key = {f"{row.channel_id}:{row.language}": row for row in rows}
    for row in reversed(rows):  # the main language's row answers to the bare channel's name
        by_key[row.channel_id] = row
    typed = {by_key[key]: text for key, text in texts.items() if key in by_key}
    changed = [row for row, text in typed.items() if row.text != text]
    for row in changed:
        await approvals.edit_text(
            ctx,
            session,
            draft_id=draft_id,
            channel_id=row.channel_id,
            language=row.language,
            text=typed[row],
            by=who.principal,
        )
    if not changed:
        await approvals.load_pending(session, draft_id)  # still says 404/409 when it must
    return [f"{row.channel_id} ({row.language})" for row in changed]


async def _decide_draft(request: Request, draft_id: str, who: Viewer, *, decision: str) -> Response:
    form = await form_of(request)
    texts = _texts(form)
    chosen = form.get("channel", [])
    try:
        check_csrf(who, form)
        require_duty_manager(who)
    except (CsrfRefused, NotAllowed) as refused:
        return await draft_response(
            request,
            who,
            draft_id,
            submitted=texts,
            chosen=chosen,
            error=_why(refused),
            status_code=403,
        )
    ctx = context_of(request)

    async def work(session: AsyncSession) -> str:
        changed = await _save_edits(request, session, who, draft_id=draft_id, texts=texts)
        if decision == "save":
            return f"Saved {', '.join(changed)}." if changed else "Nothing had changed."
        if not chosen:
            raise Problem(422, "No channel chosen", "Tick at least one channel to approve.")
        await approvals.approve(
            ctx, session, draft_id=draft_id, channel_ids=chosen, by=who.principal
        )
        edited = f" (with your edits to {', '.join(changed)})" if changed else ""
        return f"Approved for {', '.join(chosen)}{edited}. Delivery is shown below."

    done = await in_transaction(request, work)
    if isinstance(done, Refusal):
        return await draft_response(
            request,
            who,
            draft_id,
            submitted=texts,
            chosen=chosen,
            error=done.message,
            status_code=done.status_code,
        )
    return redirect(request, f"/console/drafts/{draft_id}", done)


@router.post("/drafts/{draft_id}/save")
async def save_draft(request: Request, draft_id: Id, who: ViewerDep) -> Response:
    return await _decide_draft(request, draft_id, who, decision="save")


@router.post("/drafts/{draft_id}/approve")
async def approve_draft(request: Request, draft_id: Id, who: ViewerDep) -> Response:
    return await _decide_draft(request, draft_id, who, decision="approve")


@router.post("/drafts/{draft_id}/reject")
async def reject_draft(request: Request, draft_id: Id, who: ViewerDep) -> Response:
    form = await form_of(request)
    reason = first(form, "reason").strip()
    try:
        check_csrf(who, form)
        require_duty_manager(who)
    except (CsrfRefused, NotAllowed) as refused:
        return await draft_response(request, who, draft_id, error=_why(refused), status_code=403)
    if not reason:
        return await draft_response(
            request,
            who,
            draft_id,
            error="Say why you reject it: the reason is required.",
            status_code=422,
        )
    ctx = context_of(request)

    async def work(session: AsyncSession) -> str:
        await approvals.reject(
            ctx, session, draft_id=draft_id, reason=reason[:1000], by=who.principal
        )
        return "Rejected. The incident's next event will draft a new update."

    done = await in_transaction(request, work)
    if isinstance(done, Refusal):
        return await draft_response(
            request, who, draft_id, error=done.message, status_code=done.status_code
        )
    return redirect(request, f"/console/drafts/{draft_id}", done)


async def _board(request: Request, who: Viewer, *, error: str, status_code: int) -> Response:
    async with runtime_of(request).database.reader() as session:
        board = await queries.marketing_board(context_of(request), session)
    context = {"board": board, "section": "marketing"}
    return render(request, "marketing.html", context, who=who, error=error, status_code=status_code)


@router.post("/marketing/pause")
async def pause_all(request: Request, who: ViewerDep) -> Response:
    """The big red button: every marketing channel, with a reason and a confirmation."""
    form = await form_of(request)
    try:
        check_csrf(who, form)
        require_duty_manager(who)
    except (CsrfRefused, NotAllowed) as refused:
        return await _board(request, who, error=_why(refused), status_code=403)
    if first(form, "confirm") != "yes":
        return await _board(
            request,
            who,
            error="Tick the confirmation to pause every marketing channel.",
            status_code=422,
        )
    ctx = context_of(request)

    async def work(session: AsyncSession) -> str:
        body = PauseIn(reason=first(form, "reason").strip())
        result = await resume.pause_by_hand(ctx, session, body, by=who.principal)
        return (
            f"Marketing paused on {len(result.paused)} channels "
            f"({', '.join(result.paused) or 'none'}); {result.held_posts} scheduled posts held."
        )

    done = await in_transaction(request, work)
    if isinstance(done, Refusal):
        return await _board(request, who, error=done.message, status_code=done.status_code)
    return redirect(request, "/console/marketing", done)


@router.post("/marketing/resume")
async def resume_marketing(request: Request, who: ViewerDep) -> Response:
    """Lift manual pauses and decide on held posts: send now, reschedule, cancel, restore."""
    form = await form_of(request)
    try:
        check_csrf(who, form)
        require_duty_manager(who)
    except (CsrfRefused, NotAllowed) as refused:
        return await _board(request, who, error=_why(refused), status_code=403)
    ctx = context_of(request)
    try:
        body = _resume_body(request, form)
    except ValueError as invalid:  # pydantic's ValidationError included
        return await _board(
            request, who, error=f"Those resume choices don't work: {invalid}", status_code=422
        )

    async def work(session: AsyncSession) -> str:
        result = await resume.resume_by_hand(ctx, session, body, by=who.principal)
        still = "; ".join(
            f"{s.channel_id} ({', '.join(s.incident_ids)})" for s in result.still_paused
        )
        return (
            f"Resumed: {', '.join(result.resumed) or 'no channel'}. Sent {result.sent}, "
            f"rescheduled {result.rescheduled}, cancelled {result.cancelled}, restored "
            f"{result.restored}; {result.still_held} still held."
            + (f" Still paused by an open incident: {still}." if still else "")
        )

    done = await in_transaction(request, work)
    if isinstance(done, Refusal):
        return await _board(request, who, error=done.message, status_code=done.status_code)
    return redirect(request, "/console/marketing", done)


def _resume_body(request: Request, form: dict[str, list[str]]) -> ResumeIn:
    """The resume form as the API's body (pydantic checks it as it checks the API's)."""
    zone = context_of(request).zone
    at_text, spread_text = first(form, "at"), first(form, "spread_minutes")
    at = datetime.fromisoformat(at_text).replace(tzinfo=zone) if at_text else None
    spread = int(spread_text) if spread_text.isdigit() else None

    def choice(action: str) -> dict[str, object]:
        timing = {"at": at, "spread_minutes": spread} if action == "reschedule" else {}
        return {"action": action, **timing}

    all_action = first(form, "all_action")
    posts = [
        PostChoice.model_validate({"post_id": key.removeprefix(POST_PREFIX), **choice(values[0])})
        for key, values in form.items()
        if key.startswith(POST_PREFIX) and values[0]
    ]
    return ResumeIn(
        channels=form.get("channel") or None,
        all_posts=Choice.model_validate(choice(all_action)) if all_action else None,
        posts=posts,
        note=first(form, "note").strip() or None,
    )


def _why(refused: Exception) -> str:
    if isinstance(refused, CsrfRefused):
        return "This form had expired (or did not come from this console). Reload and try again."
    return str(refused)
