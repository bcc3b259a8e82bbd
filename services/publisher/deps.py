"""FastAPI dependency aliases for the publisher's routes."""

from typing import Annotated

from fastapi import Depends, Request

from services.publisher.channels import ChannelRegistry
from services.publisher.components import ComponentsFile
from services.publisher.dispatch import Dispatcher
from services.publisher.settings import PublisherSettings


def get_publisher_settings(request: Request) -> PublisherSettings:
    settings: PublisherSettings = request.app.state.settings
    return settings


def get_channels(request: Request) -> ChannelRegistry:
    channels: ChannelRegistry = request.app.state.channels
    return channels


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
SettingsDep = Annotated[PublisherSettings, Depends(get_publisher_settings)]
ChannelsDep = Annotated[ChannelRegistry, Depends(get_channels)]


def get_components(request: Request) -> ComponentsFile:
    components: ComponentsFile = request.app.state.components
    return components


ComponentsDep = Annotated[ComponentsFile, Depends(get_components)]
