"""Publisher: sends approved messages to channels and serves the public status page (port 8002).

Run with `uvicorn --factory services.publisher.main:create_app`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.publisher.channels import load_registry
from services.publisher.handlers import publisher_handlers
from services.publisher.models import Base
from services.publisher.settings import PublisherSettings, get_settings
from services.publisher.views import api_router, status_router
from shared.auth import TokenStore
from shared.logs import configure_logging
from shared.runtime import Runtime
from shared.web import install_common


def create_app(settings: PublisherSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        channels = load_registry(settings)
        runtime = Runtime(settings, metadata=Base.metadata)
        app.state.settings = settings
        app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
        app.state.channels = channels
        app.state.runtime = runtime
        await runtime.start()
        try:
            runtime.add_consumer(
                f"{settings.topic_prefix}-publisher",
                [runtime.topics.outbound],
                publisher_handlers(
                    topics=runtime.topics, channels=channels, wake=runtime.relay.wake
                ),
            )
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Plan B publisher",
        version="1",
        summary="Deliver status updates to channels; the public status page.",
        lifespan=lifespan,
    )
    install_common(app, "publisher")
    app.include_router(status_router)
    app.include_router(api_router)
    return app
