"""Signing in with a token, and out."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.router.console.session import COOKIE, ConsoleSession, clear, principal_of
from services.router.console.web import (
    Viewer,
    first,
    form_of,
    redirect,
    render,
    signer_of,
    viewer,
)
from shared.web.auth import TokenStore, digest

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a console page of this site: never another site (`//evil`, `/\\evil`)."""
    if target and target.startswith("/console") and "\\" not in target and "//" not in target:
        return target
    return "/console"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    signer = signer_of(request)
    session = signer.read(request)
    if principal_of(session, request.app.state.tokens) is not None:
        return redirect(request, safe_next(next))
    anonymous = session or signer.new_session(None)
    response = _login_form(request, anonymous, safe_next(next))
    signer.write(response, anonymous)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    signer = signer_of(request)
    form = await form_of(request)
    target = safe_next(first(form, "next"))
    session = signer.read(request)
    if session is None:
        fresh = signer.new_session(None)
        response = _login_form(
            request,
            fresh,
            target,
            error="Your browser did not send the console's cookie back. The console needs "
            "HTTPS (or localhost) and cookies allowed for this site; then try again.",
            status_code=400,
        )
        signer.write(response, fresh)
        return response
    if not signer.csrf_ok(session, first(form, "csrf")):
        return _login_form(
            request, session, target, error="This form had expired; try again.", status_code=403
        )
    store: TokenStore = request.app.state.tokens
    token = first(form, "token").strip()
    principal = store.authenticate(token) if token else None
    if principal is None:
        return _login_form(
            request,
            session,
            target,
            error="That token is not known. Use a token from data/dev-tokens.json (local run) "
            "or the one your operator gave you.",
            status_code=401,
        )
    response = redirect(request, target, f"Signed in as {principal.name}.")
    signer.write(response, signer.new_session(digest(token)))
    return response


@router.post("/logout")
async def logout(request: Request, who: Annotated[Viewer, Depends(viewer)]) -> Response:
    form = await form_of(request)
    if not who.signer.csrf_ok(who.session, first(form, "csrf")):
        return redirect(request, "/console", "That sign-out form had expired; try again.")
    response = redirect(request, "/console/login")
    clear(response, COOKIE)
    return response


def _login_form(
    request: Request,
    session: ConsoleSession,
    target: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    csrf = signer_of(request).csrf_token(session)
    return render(
        request,
        "login.html",
        {"csrf": csrf, "next": target, "title": "Sign in"},
        error=error,
        status_code=status_code,
    )
