"""FastAPI dependency aliases for the publisher's routes."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels import ChannelRegistry
from services.publisher.settings import PublisherSettings
from shared.auth import Principal
from shared.runtime import Runtime
from shared.web import authenticated


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_publisher_settings(request: Request) -> PublisherSettings:
    settings: PublisherSettings = request.app.state.settings
    return settings


def get_channels(request: Request) -> ChannelRegistry:
    channels: ChannelRegistry = request.app.state.channels
    return channels


async def get_session(
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> AsyncIterator[AsyncSession]:
    """A read session per request, closed when the response is done."""
    async with runtime.database.sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[PublisherSettings, Depends(get_publisher_settings)]
ChannelsDep = Annotated[ChannelRegistry, Depends(get_channels)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
PrincipalDep = Annotated[Principal, Depends(authenticated)]
