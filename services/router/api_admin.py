"""The admin API for personal tokens (`/v1/admin/tokens`, role `admin`).

The tokens live in the router's database (`shared.web.accounts`), so each change and its
audit entry commit together; every service reads the same rows on its next request.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services.router.accounts_audit import move_account_events
from services.router.deps import ContextDep, ReadSessionDep, WriteSessionDep
from shared.web import tokens
from shared.web.auth import Principal, Role
from shared.web.ops import require_role
from shared.web.tokens import NAME_PATTERN, IssuedToken, TokenInfo

router = APIRouter(prefix="/v1/admin", tags=["admin"])
AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]
TokenName = Annotated[str, Path(pattern=NAME_PATTERN)]


class TokenIn(BaseModel):
    """A person's new token."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="The person: shown in the audit log")
    roles: list[Role] = Field(min_length=1, max_length=4)
    expires_in: str | None = Field(
        default=None, pattern=r"^\d{1,5}[hdw]$", description="90d, 12h, 2w; none: no expiry"
    )


@router.post("/tokens", status_code=201, response_model=IssuedToken)
async def issue_token(
    body: TokenIn, session: WriteSessionDep, ctx: ContextDep, admin: AdminDep
) -> IssuedToken:
    """Issue a token to a person; the answer is the only place its secret ever appears."""
    now = ctx.clock()
    expires = None if body.expires_in is None else now + tokens.parse_duration(body.expires_in)
    issued = await tokens.issue(
        session, name=body.name, roles=body.roles, expires_at=expires, by=admin.name, now=now
    )
    await move_account_events(ctx, session)
    return issued


@router.get("/tokens", response_model=list[TokenInfo])
async def list_tokens(
    session: ReadSessionDep,
    ctx: ContextDep,
    _: AdminDep,
    include_ended: Annotated[bool, Query(alias="all")] = False,
) -> list[TokenInfo]:
    """Live tokens by name, without secrets; `all=true` adds revoked and rotated-away ones."""
    return await tokens.list_tokens(session, now=ctx.clock(), include_ended=include_ended)


@router.post("/tokens/{name}/rotate", response_model=IssuedToken)
async def rotate_token(
    name: TokenName, session: WriteSessionDep, ctx: ContextDep, admin: AdminDep
) -> IssuedToken:
    """A new secret for the person's token (same roles, same expiry); the old one stops now."""
    issued = await tokens.rotate(session, name, by=admin.name, now=ctx.clock())
    await move_account_events(ctx, session)
    return issued


@router.delete("/tokens/{name}", response_model=TokenInfo)
async def revoke_token(
    name: TokenName, session: WriteSessionDep, ctx: ContextDep, admin: AdminDep
) -> TokenInfo:
    """Revoke the person's token: 401 on every service from its next request, and its
    console sessions end."""
    info = await tokens.revoke(session, name, by=admin.name, now=ctx.clock())
    await move_account_events(ctx, session)
    return info
