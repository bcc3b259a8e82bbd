"""Ingest: the incident intake API for operators and monitoring (port 8000).

Run with `uvicorn --factory services.ingest.main:create_app`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ingest.api import router
from services.ingest.models import Base
from services.ingest.settings import IngestSettings, get_settings
from shared.auth import TokenStore
from shared.logs import configure_logging
from shared.runtime import Runtime
from shared.web import install_common


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metadata=Base.metadata)
        app.state.settings = settings
        app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Plan B ingest",
        version="1",
        summary="Raise and update incidents; Alertmanager webhook.",
        lifespan=lifespan,
    )
    install_common(app, "ingest")
    app.include_router(router)
    return app
