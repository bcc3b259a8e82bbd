"""FastAPI dependencies every service shares: the runtime and database sessions."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.service import Runtime
from shared.web.auth import Principal
from shared.web.ops import authenticated


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def write_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A transaction per request: committed before the response is sent, rolled back on error."""
    async with runtime.database.transaction() as session:
        yield session


async def read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.database.reader() as session:
        yield session


WriteSessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]
AnyRoleDep = Annotated[Principal, Depends(authenticated)]
