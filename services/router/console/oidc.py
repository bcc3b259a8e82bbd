"""Console sign-in through an OpenID Connect provider: the authorization code flow with PKCE.

Authlib does the protocol: the authorization URL with `state`, `nonce` and an S256 code
challenge, the code exchange with the client's secret, and the ID token's checks (signature
against the provider's published keys, issuer, audience = our client id, expiry, nonce).
Here: the pending sign-in kept on the server (`oidc_logins`) under the state bound to this
browser's session, used once, so a replayed or foreign `state` is refused; and the roles,
from a claim mapped in `OIDC_ROLES_FILE`.
"""

import hashlib
import logging
import secrets
import warnings
from datetime import timedelta
from typing import Any

import authlib.deprecate
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from pydantic import BaseModel, ConfigDict

from services.router.console.session import ConsoleSession
from services.router.console.signin import open_session, safe_next
from services.router.console.web import context_of, render, runtime_of, secure, signer_of
from services.router.models import OidcLogin
from services.router.settings import RouterSettings
from shared.contract.config_files import load_yaml_model
from shared.web.auth import Principal, Role

# Authlib 1.7 warns on import that its httpx integration moves to httpx2 (we use its Starlette
# client): a line in every router start, not something an operator can act on
with warnings.catch_warnings():
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

log = logging.getLogger(__name__)
router = APIRouter()
LOGIN_WINDOW = timedelta(minutes=10)
"""How long a sign-in may take at the provider before its `state` is refused."""


class RoleMap(BaseModel):
    """`OIDC_ROLES_FILE`: claim values to Plan B roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: dict[str, list[Role]]

    def of(self, claim: Any) -> tuple[set[Role], list[str]]:
        """The roles the claim's values give, and the values themselves (for the refusal)."""
        values = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
        values = [str(v) for v in values]
        return {role for v in values for role in self.roles.get(v, [])}, values


class Oidc:
    """The provider, as the router's settings describe it (discovery read on first use)."""

    def __init__(self, settings: RouterSettings) -> None:
        issuer, client_id, secret = (
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret,
        )
        if issuer is None or client_id is None or secret is None:
            raise ValueError("OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are needed")
        self.settings = settings
        self.issuer = issuer.rstrip("/")
        self.roles = load_yaml_model(settings.resolved_oidc_roles_file(), RoleMap)
        self.client: StarletteOAuth2App = OAuth().register(
            "idp",
            client_id=client_id,
            client_secret=secret.get_secret_value(),
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )

    def redirect_uri(self, request: Request) -> str:
        return self.settings.oidc_redirect_url or str(request.url_for("oidc_callback"))

    def person(self, claims: dict[str, Any]) -> tuple[Principal | None, str]:
        """Who the ID token names, with their roles; or None and why not."""
        name = str(claims.get(self.settings.oidc_name_claim) or claims["sub"])[:100]
        display = claims.get("name")
        roles, values = self.roles.of(claims.get(self.settings.oidc_roles_claim))
        if not roles:
            said = ", ".join(values) if values else "none"
            claim = self.settings.oidc_roles_claim
            return None, (
                f"You signed in as {display or name}, but none of your `{claim}` ({said}) gives "
                "a Plan B role. An admin maps them in "
                f"{self.settings.resolved_oidc_roles_file().name}."
            )
        shown = str(display)[:200] if display else None
        return Principal(name=name, roles=frozenset(roles), display_name=shown), ""


def oidc_of(request: Request) -> Oidc | None:
    found: Oidc | None = getattr(request.app.state, "oidc", None)
    return found


def _bound(state: str, session: ConsoleSession) -> str:
    """The state's key, bound to this browser's session: another browser's callback with
    our state (login CSRF) finds nothing."""
    return hashlib.sha256(f"{session.sid}|{state}".encode()).hexdigest()


@router.get("/oidc/start")
async def start(request: Request, next: str | None = None) -> Response:
    oidc = oidc_of(request)
    if oidc is None:
        return _refused(request, "Single sign-on is not configured here.", 404)
    signer = signer_of(request)
    session = signer.read(request) or signer.new_session(signed_in=False)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    try:
        sent = await oidc.client.create_authorization_url(
            oidc.redirect_uri(request), state=state, nonce=nonce
        )
    except (httpx.HTTPError, OAuthError, RuntimeError, ValueError) as exc:
        log.warning("identity provider unreachable: %s", exc)
        return _refused(request, "The identity provider cannot be reached; try again.", 502)
    async with runtime_of(request).database.transaction() as db:
        db.add(
            OidcLogin(
                state_sha256=_bound(state, session),
                nonce=nonce,
                verifier=sent["code_verifier"],
                next_path=safe_next(next),
                created_at=context_of(request).clock(),
            )
        )
    response = secure(RedirectResponse(sent["url"], status_code=303))
    signer.write(response, session)
    return response


@router.get("/oidc/callback", name="oidc_callback")
async def callback(
    request: Request, state: str = "", code: str = "", error: str | None = None
) -> Response:
    oidc = oidc_of(request)
    session = signer_of(request).read(request)
    if oidc is None or session is None:
        return _refused(request, "This sign-in did not start in this browser; start again.", 400)
    if error is not None:
        said = request.query_params.get("error_description") or error
        return _refused(request, f"The identity provider refused the sign-in: {said}", 401)
    pending = await _take(request, state, session)
    if pending is None:
        return _refused(
            request,
            "This sign-in answer was used already, has expired or was not meant for this "
            "browser (its state is not one we are waiting for). Start again.",
            400,
        )
    try:
        token = await oidc.client.fetch_access_token(
            redirect_uri=oidc.redirect_uri(request), code=code, code_verifier=pending.verifier
        )
        claims = await oidc.client.parse_id_token(
            token,
            nonce=pending.nonce,
            claims_options={
                "iss": {"essential": True, "values": [oidc.issuer]},
                "aud": {"essential": True, "values": [oidc.settings.oidc_client_id]},
            },
        )
    except (JoseError, OAuthError, httpx.HTTPError, KeyError, ValueError) as exc:
        log.warning("OIDC sign-in refused: %s: %s", type(exc).__name__, exc)
        return _refused(
            request,
            f"The identity provider's answer did not check out: {_why(exc)} "
            f"({type(exc).__name__}: {str(exc)[:200]}), so nobody was signed in.",
            401,
        )
    principal, why = oidc.person(dict(claims))
    if principal is None:
        return _refused(request, why, 403)
    return await open_session(
        request, principal, via="oidc", token_sha256=None, target=pending.next_path
    )


async def _take(request: Request, state: str, session: ConsoleSession) -> OidcLogin | None:
    """The pending sign-in this state names, marked used in the same transaction; None if
    unknown, used already or too old."""
    now = context_of(request).clock()
    async with runtime_of(request).database.transaction() as db:
        row = await db.get(OidcLogin, _bound(state, session), with_for_update=True)
        if row is None or row.used_at is not None or now - row.created_at > LOGIN_WINDOW:
            return None
        row.used_at = now
        return row


def _why(exc: Exception) -> str:
    """What went wrong, in words: the exception's name stays beside it for the log reader."""
    if isinstance(exc, BadSignatureError):
        return "the ID token is not signed with the provider's published keys"
    if isinstance(exc, InvalidClaimError | MissingClaimError):
        return f"the ID token's `{exc.claim}` claim is wrong or missing"
    if isinstance(exc, ExpiredTokenError):
        return "the ID token has expired"
    if isinstance(exc, OAuthError):
        return "the provider refused to exchange the code"
    return "it could not be read"


def _refused(request: Request, message: str, status_code: int) -> Response:
    return render(
        request,
        "message.html",
        {"title": "Not signed in", "back": "/console/login"},
        error=message,
        status_code=status_code,
    )
