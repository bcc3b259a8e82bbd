"""Publisher: sends approved messages to channels and serves the public status page (port 8002).

Run with `uvicorn --factory services.publisher.main:create_app`.
"""

from fastapi import FastAPI

from services.publisher.channels import ChannelRegistry, load_registry
from services.publisher.handlers import publisher_handlers
from services.publisher.models import Base
from services.publisher.settings import PublisherSettings, get_settings
from services.publisher.views import api_router, status_router
from shared.app import create_service_app
from shared.runtime import Runtime


def create_app(settings: PublisherSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    def prepare(app: FastAPI, _runtime: Runtime) -> None:
        app.state.channels = load_registry(settings)

    async def setup(app: FastAPI, runtime: Runtime) -> None:
        channels: ChannelRegistry = app.state.channels
        runtime.add_consumer(
            f"{settings.topic_prefix}-publisher",
            [runtime.topics.outbound],
            publisher_handlers(topics=runtime.topics, channels=channels, wake=runtime.relay.wake),
        )

    return create_service_app(
        settings,
        title="Plan B publisher",
        summary="Deliver status updates to channels; the public status page.",
        metadata=Base.metadata,
        routers=[status_router, api_router],
        prepare=prepare,
        setup=setup,
    )
