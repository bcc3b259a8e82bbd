"""Console sessions on the server: started at sign-in, checked on every request, ended by
signing out, by the token they were opened with ending, or by the idle and absolute limits.

The cookie carries only a signed random session id; the row here (by the id's digest) says
who it is and until when, so a copied cookie is worth nothing once the session has ended.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.models import ConsoleSignIn, OidcLogin
from services.router.settings import RouterSettings
from shared.runtime.database import Database
from shared.web.accounts import live_token
from shared.web.auth import Principal, Role, TokenStore

KEPT = timedelta(days=7)
"""Sessions stay this long after their absolute end (who was signed in, when), then go."""
TOUCH_EVERY = timedelta(minutes=1)
"""`last_seen_at` is written at most this often: the idle limit is counted in minutes."""


@dataclass(frozen=True)
class SignedIn:
    """Who a session is, and when it ends if nothing else ends it first."""

    principal: Principal
    via: str
    until: datetime
    idle_until: datetime

    @property
    def ends_at(self) -> datetime:
        return min(self.until, self.idle_until)


def sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _limits(settings: RouterSettings) -> tuple[timedelta, timedelta]:
    return (
        timedelta(hours=settings.console_session_hours),
        timedelta(minutes=settings.console_idle_minutes),
    )


async def start(
    database: Database,
    settings: RouterSettings,
    *,
    sid: str,
    principal: Principal,
    via: str,
    token_sha256: str | None,
    now: datetime,
) -> None:
    lifetime, _ = _limits(settings)
    async with database.transaction() as session:
        session.add(
            ConsoleSignIn(
                sid_sha256=sid_digest(sid),
                name=principal.name,
                display_name=principal.display_name,
                roles=sorted(r.value for r in principal.roles),
                via=via,
                token_sha256=token_sha256,
                signed_in_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
            )
        )


async def current(request: Request, sid: str, now: datetime) -> SignedIn | None:
    """The live session with this id, touched; None once it has ended for any reason."""
    settings: RouterSettings = request.app.state.settings
    database: Database = request.app.state.runtime.database
    _, idle = _limits(settings)
    async with database.reader() as session:
        row = await session.get(ConsoleSignIn, sid_digest(sid))
        if row is None or row.ended_at is not None or now >= row.expires_at:
            return None
        if now - row.last_seen_at >= idle:
            return None
        principal = await _who(session, request.app.state.tokens, row, now)
    if principal is None:
        await end(database, sid, now)  # its token was revoked or expired: end it for good
        return None
    last_seen = row.last_seen_at
    if now - last_seen >= TOUCH_EVERY:
        last_seen = now
        async with database.transaction() as session:
            await session.execute(
                update(ConsoleSignIn)
                .where(ConsoleSignIn.sid_sha256 == row.sid_sha256)
                .values(last_seen_at=now)
            )
    return SignedIn(principal, row.via, until=row.expires_at, idle_until=last_seen + idle)


async def _who(
    session: AsyncSession, store: TokenStore, row: ConsoleSignIn, now: datetime
) -> Principal | None:
    """A token session is whoever the token is now (none once it ended); an identity
    provider's session is who the provider said at sign-in."""
    if row.token_sha256 is None:
        roles = frozenset(Role(r) for r in row.roles)
        return Principal(name=row.name, roles=roles, display_name=row.display_name)
    from_file = store.by_digest(row.token_sha256)
    if from_file is not None:
        return from_file
    token = await live_token(session, row.token_sha256, now)
    return None if token is None else token.principal()


async def end(database: Database, sid: str, now: datetime) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(ConsoleSignIn)
            .where(ConsoleSignIn.sid_sha256 == sid_digest(sid), ConsoleSignIn.ended_at.is_(None))
            .values(ended_at=now)
        )


async def forget_old(database: Database, now: datetime) -> None:
    """The periodic clean-up: sessions long over, and sign-ins never finished."""
    async with database.transaction() as session:
        await session.execute(delete(ConsoleSignIn).where(ConsoleSignIn.expires_at < now - KEPT))
        await session.execute(delete(OidcLogin).where(OidcLogin.created_at < now - KEPT))
