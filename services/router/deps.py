"""FastAPI dependency aliases for the router's routes."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import RouterContext
from shared.auth import Principal, Role
from shared.runtime import Runtime
from shared.web import authenticated, require_role


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_context(request: Request) -> RouterContext:
    ctx: RouterContext = request.app.state.context
    return ctx


async def get_session(
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> AsyncIterator[AsyncSession]:
    """A transaction per request: committed when the route returns, rolled back on error."""
    async with runtime.database.transaction() as session:
        yield session


ContextDep = Annotated[RouterContext, Depends(get_context)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReaderDep = Annotated[Principal, Depends(authenticated)]
DutyManagerDep = Annotated[Principal, Depends(require_role(Role.DUTY_MANAGER))]
