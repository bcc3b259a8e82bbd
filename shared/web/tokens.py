"""A personal token's life: issued (shown once), listed without secrets, rotated, revoked.

The admin API (`/v1/admin/tokens`) and `planb tokens` both call these, each in one
transaction on the accounts database, and each change writes its `AccountEvent` for the
audit log in that same transaction.
"""

import re
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.errors import Conflict, NotFound, Rejected
from shared.web.accounts import AccountEvent, ApiToken
from shared.web.auth import Role, digest

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$"
_DURATION = re.compile(r"^(\d{1,5})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta:
    """ "90d", "12h", "2w": how long a token lives. Anything else is refused, saying so."""
    found = _DURATION.match(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise Rejected(
            "Bad duration", f"{text!r} is not a duration: write a number and h, d or w (90d)"
        )
    return int(found.group(1)) * _UNITS[found.group(2)]


class TokenInfo(BaseModel):
    """A token as listed: everything but the secret."""

    name: str
    roles: list[Role]
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken, now: datetime) -> "TokenInfo":
        state: Literal["active", "expired", "revoked"] = (
            "revoked" if row.revoked_at else "active" if row.live(now) else "expired"
        )
        return cls(
            name=row.name,
            roles=[Role(r) for r in row.roles],
            state=state,
            created_at=row.created_at,
            created_by=row.created_by,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class IssuedToken(BaseModel):
    """A new token: the secret is in this answer and nowhere else, ever."""

    token: str = Field(description="The secret; only its SHA-256 digest is kept")
    info: TokenInfo


def new_secret() -> str:
    return f"pb_{secrets.token_urlsafe(32)}"


async def issue(
    session: AsyncSession,
    *,
    name: str,
    roles: list[Role],
    expires_at: datetime | None,
    by: str,
    now: datetime,
    secret: str | None = None,
    action: str = "token issued",
) -> IssuedToken:
    """A token for `name` (409 if they have a live one: rotate or revoke it first);
    `secret` only for the dev tokens, which keep theirs across restarts."""
    if not re.match(NAME_PATTERN, name):
        raise Rejected("Bad name", f"{name!r}: letters, digits and . _ @ + - (at most 100)")
    if not roles:
        raise Rejected("No role", "a token needs at least one role")
    if expires_at is not None and expires_at <= now:
        raise Rejected("Expiry in the past", f"{expires_at.isoformat()} has passed")
    if await _live(session, name) is not None:
        raise Conflict("Token exists", f"{name} has a live token: rotate or revoke it", name=name)
    plain = secret or new_secret()
    row = ApiToken(
        name=name,
        live_name=name,
        roles=sorted({r.value for r in roles}),
        sha256=digest(plain),
        created_at=now,
        created_by=by,
        expires_at=expires_at,
    )
    session.add(row)
    _event(session, now=now, by=by, action=action, row=row)
    await session.flush()
    return IssuedToken(token=plain, info=TokenInfo.of(row, now))


async def rotate(session: AsyncSession, name: str, *, by: str, now: datetime) -> IssuedToken:
    """A new secret for `name`'s live token, same roles and expiry; the old one stops now."""
    old = await _require_live(session, name)
    _end(old, by=by, now=now)
    await session.flush()  # its live_name is free before the new row takes it
    return await issue(
        session,
        name=name,
        roles=[Role(r) for r in old.roles],
        expires_at=old.expires_at,
        by=by,
        now=now,
        action="token rotated",
    )


async def revoke(session: AsyncSession, name: str, *, by: str, now: datetime) -> TokenInfo:
    """`name`'s live token stops working on every service at its next request."""
    row = await _require_live(session, name)
    _end(row, by=by, now=now)
    _event(session, now=now, by=by, action="token revoked", row=row)
    await session.flush()
    return TokenInfo.of(row, now)


async def list_tokens(
    session: AsyncSession, *, now: datetime, include_ended: bool = False
) -> list[TokenInfo]:
    """Every live token by name (with `include_ended`, revoked and rotated-away ones too)."""
    query = select(ApiToken).order_by(ApiToken.name, ApiToken.id)
    if not include_ended:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [TokenInfo.of(row, now) for row in (await session.execute(query)).scalars()]


async def _live(session: AsyncSession, name: str) -> ApiToken | None:
    found: ApiToken | None = (
        await session.execute(select(ApiToken).where(ApiToken.live_name == name))
    ).scalar_one_or_none()
    return found


async def _require_live(session: AsyncSession, name: str) -> ApiToken:
    row = await _live(session, name)
    if row is None:
        raise NotFound("No such token", f"{name} has no live token", name=name)
    return row


def _end(row: ApiToken, *, by: str, now: datetime) -> None:
    row.revoked_at, row.revoked_by, row.live_name = now, by, None


def _event(session: AsyncSession, *, now: datetime, by: str, action: str, row: ApiToken) -> None:
    details: dict[str, Any] = {"roles": list(row.roles)}
    if row.expires_at is not None:
        details["expires_at"] = row.expires_at.isoformat()
    session.add(AccountEvent(at=now, actor=by, action=action, name=row.name, details=details))
