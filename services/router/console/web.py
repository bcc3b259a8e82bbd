"""The console's plumbing: templates, who is signed in, forms, CSRF and domain errors as
messages on the page."""

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.console import signins
from services.router.console.queries import SEVERITY_WORDS
from services.router.console.session import (
    CSRF_FIELD,
    FLASH_COOKIE,
    ConsoleSession,
    Signer,
    clear,
    load_secret,
)
from services.router.console.signins import SignedIn
from services.router.context import RouterContext
from services.router.settings import RouterSettings
from shared.contract.errors import DomainError
from shared.runtime.service import Runtime
from shared.web.auth import Principal, Role
from shared.web.problems import Problem, domain_status

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
T = TypeVar("T")
R = TypeVar("R", bound=Response)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["asset_version"] = _asset_version()
templates.env.globals["severity_words"] = SEVERITY_WORDS


def signer_of(request: Request) -> Signer:
    """The app's signer, made on first use from the router's settings."""
    signer: Signer | None = getattr(request.app.state, "console_signer", None)
    if signer is None:
        settings: RouterSettings = request.app.state.settings
        hours = settings.console_session_hours
        signer = Signer(load_secret(settings), session_seconds=int(hours * 3600))
        request.app.state.console_signer = signer
    return signer


def context_of(request: Request) -> RouterContext:
    ctx: RouterContext = request.app.state.context
    return ctx


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class Viewer:
    """The signed-in person on this request, with their session's CSRF token and its end."""

    def __init__(self, request: Request, signed: SignedIn, session: ConsoleSession) -> None:
        self.request = request
        self.principal = signed.principal
        self.signed = signed
        self.session = session
        self.signer = signer_of(request)
        self.csrf = self.signer.csrf_token(session)

    @property
    def may_decide(self) -> bool:
        return self.principal.has_any((Role.DUTY_MANAGER,))


async def signed_in(request: Request) -> tuple[SignedIn, ConsoleSession] | None:
    """The live server-side session the cookie names, if any."""
    session = signer_of(request).read(request)
    if session is None or not session.signed_in:
        return None
    signed = await signins.current(request, session.sid, context_of(request).clock())
    return None if signed is None else (signed, session)


async def viewer(request: Request) -> Viewer:
    """The signed-in person; anyone else is sent to the sign-in page and back."""
    found = await signed_in(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"/console/login?next={quote(target, safe='')}"
        raise HTTPException(303, "Sign in first.", headers={"Location": location})
    return Viewer(request, *found)


MAX_FORM_FIELDS = 2000


async def form_of(request: Request) -> dict[str, list[str]]:
    """An HTML form body (application/x-www-form-urlencoded; the body guard caps its size, and
    more than `MAX_FORM_FIELDS` fields is a 413 problem, not parse_qs's uncaught ValueError)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        return parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Problem(
            413, "Too many form fields", f"A form here has at most {MAX_FORM_FIELDS} fields."
        ) from None


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return (form.get(name) or [default])[0]


def check_csrf(who: Viewer, form: dict[str, list[str]]) -> None:
    if not who.signer.csrf_ok(who.session, first(form, CSRF_FIELD)):
        raise CsrfRefused()


class CsrfRefused(Exception):
    """A form without this session's CSRF token: the page is stale or the post is forged."""


class NotAllowed(Exception):
    def __init__(self, principal: Principal, needs: str) -> None:
        super().__init__(
            f"You are signed in as {principal.label} ({principal.roles_text}); {needs}."
        )


def require_duty_manager(who: Viewer) -> None:
    if not who.may_decide:
        raise NotAllowed(who.principal, "only a duty manager or an admin can do this")


class Refusal:
    """A domain refusal to show on the page: the sentence, and the status to answer with."""

    def __init__(self, message: str, status_code: int) -> None:
        self.message = message
        self.status_code = status_code


async def in_transaction(
    request: Request, work: Callable[[AsyncSession], Awaitable[T]]
) -> T | Refusal:
    """Run `work` in one transaction; a refusal (`DomainError`, `Problem`, invalid input) rolls it
    back and comes back as a sentence for the page, never as JSON."""
    try:
        async with runtime_of(request).database.transaction() as session:
            return await work(session)
    except DomainError as refused:
        text = f"{refused.title}: {refused.detail}" if refused.detail else refused.title
        return Refusal(text, domain_status(refused))
    except Problem as problem:
        text = f"{problem.title}: {problem.detail}" if problem.detail else problem.title
        return Refusal(text, problem.status)
    except ValidationError as invalid:
        return Refusal("; ".join(_validation_message(e) for e in invalid.errors()[:5]), 422)


def _validation_message(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    who: Viewer | None = None,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    """A page: the template with who is signed in, the CSRF token, a one-time message and
    the time, in the router's display zone."""
    ctx = context_of(request)
    flash = signer_of(request).take_flash(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "user": who.principal if who else None,
            "csrf": who.csrf if who else context.get("csrf", ""),
            "flash": flash,
            "error": error,
            "now": ctx.clock(),
            "zone": ctx.zone,
            "idle_minutes": round(request.app.state.settings.console_idle_minutes),
            **context,
        },
        status_code=status_code,
    )
    if flash is not None:
        clear(response, FLASH_COOKIE)
    return secure(response)


def secure(response: R) -> R:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def redirect(request: Request, location: str, message: str | None = None) -> Response:
    """Post, redirect, get: the next page shows `message` once."""
    response = RedirectResponse(location, status_code=303)
    if message:
        signer_of(request).flash(response, message)
    return secure(response)


def clock(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """ "14:30", or "Tue 3 Mar 14:30" when not today, in the display zone."""
    if moment is None:
        return "—"
    local, today = moment.astimezone(zone), now.astimezone(zone)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%a %-d %b %H:%M")


def duration(seconds: float) -> str:
    """ "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def since(moment: datetime, now: datetime) -> str:
    return duration((now - moment).total_seconds())


def _pass_clock(env_context: Any, moment: datetime | None) -> str:
    return clock(moment, env_context["zone"], env_context["now"])


def _pass_since(env_context: Any, moment: datetime) -> str:
    return since(moment, env_context["now"])


def _until(env_context: Any, moment: datetime | None) -> str:
    """Text for a promised time: "in 12 min" or "12 min overdue" (JS keeps it counting)."""
    if moment is None:
        return "none promised"
    left = (moment - env_context["now"]).total_seconds()
    return f"in {duration(left)}" if left >= 0 else f"{duration(-left)} overdue"


def _install_filters() -> None:
    from jinja2 import pass_context

    env = templates.env
    env.filters["clock"] = pass_context(_pass_clock)
    env.filters["since"] = pass_context(_pass_since)
    env.filters["until"] = pass_context(_until)
    env.filters["duration"] = duration
    env.filters["iso"] = lambda moment: moment.isoformat() if moment else ""
    env.globals["timedelta"] = timedelta


_install_filters()
