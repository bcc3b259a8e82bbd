"""Signing in with a token, and out."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.router.console import signins
from services.router.console.session import COOKIE, ConsoleSession, clear
from services.router.console.web import (
    Viewer,
    context_of,
    first,
    form_of,
    redirect,
    render,
    runtime_of,
    signed_in,
    signer_of,
    viewer,
)
from shared.web.auth import Principal, digest
from shared.web.ops import identify

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a console page of this site: never another site (`//evil`, `/\\evil`)."""
    if target and target.startswith("/console") and "\\" not in target and "//" not in target:
        return target
    return "/console"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    signer = signer_of(request)
    if await signed_in(request) is not None:
        return redirect(request, safe_next(next))
    session = signer.read(request)
    anonymous = session if session is not None and not session.signed_in else None
    anonymous = anonymous or signer.new_session(signed_in=False)
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
        fresh = signer.new_session(signed_in=False)
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
    token = first(form, "token").strip()
    principal = await identify(request, token) if token else None
    if principal is None:
        return _login_form(
            request,
            session,
            target,
            error="That token is not known, has expired or was revoked. Use a token from "
            "data/dev-tokens.json (local run) or the one your operator gave you.",
            status_code=401,
        )
    return await open_session(
        request, principal, via="token", token_sha256=digest(token), target=target
    )


async def open_session(
    request: Request,
    principal: Principal,
    *,
    via: str,
    token_sha256: str | None,
    target: str,
) -> Response:
    """A new server-side session (a fresh id: a planted one is worth nothing) and its cookie."""
    signer = signer_of(request)
    fresh = signer.new_session(signed_in=True)
    await signins.start(
        runtime_of(request).database,
        request.app.state.settings,
        sid=fresh.sid,
        principal=principal,
        via=via,
        token_sha256=token_sha256,
        now=context_of(request).clock(),
    )
    response = redirect(request, target, f"Signed in as {principal.label}.")
    signer.write(response, fresh)
    return response


@router.post("/logout")
async def logout(request: Request, who: Annotated[Viewer, Depends(viewer)]) -> Response:
    form = await form_of(request)
    if not who.signer.csrf_ok(who.session, first(form, "csrf")):
        return redirect(request, "/console", "That sign-out form had expired; try again.")
    await signins.end(runtime_of(request).database, who.session.sid, context_of(request).clock())
    response = redirect(request, "/console/login", "Signed out.")
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
        {"csrf": csrf, "next": target, "title": "Sign in", "sso": _sso_name(request)},
        error=error,
        status_code=status_code,
    )


def _sso_name(request: Request) -> str | None:
    """The identity provider's name on the button, when one is configured."""
    settings = request.app.state.settings
    return settings.oidc_provider_name if getattr(request.app.state, "oidc", None) else None
