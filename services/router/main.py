"""Router: incidents' state, drafts, approvals and marketing pauses (port 8001).

Run with `uvicorn --factory services.router.main:create_app`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.router.api import router
from services.router.context import RouterContext
from services.router.deliveries import delivery_handlers
from services.router.incidents import incident_handlers
from services.router.models import Base
from services.router.policy import load_policy
from services.router.settings import RouterSettings, get_settings
from shared.auth import TokenStore
from shared.channels import load_channels
from shared.logs import configure_logging
from shared.runtime import Runtime
from shared.web import install_common


def bootstrap(settings: RouterSettings, runtime: Runtime) -> RouterContext:
    """Read configuration (failing fast with a clear message) and wire the context."""
    return RouterContext(
        topics=runtime.topics,
        channels=load_channels(settings.resolved_channels_file()),
        policy=load_policy(settings.resolved_policy_file()),
        zone=ZoneInfo(settings.display_timezone),
        public_base_url=settings.public_base_url,
        wake_relay=runtime.relay.wake,
    )


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metadata=Base.metadata)
        ctx = bootstrap(settings, runtime)
        app.state.settings = settings
        app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
        app.state.runtime = runtime
        app.state.context = ctx
        await runtime.start()
        group = f"{settings.topic_prefix}-router"
        runtime.add_consumer(
            f"{group}-incidents", [runtime.topics.incidents], incident_handlers(ctx)
        )
        runtime.add_consumer(
            f"{group}-deliveries", [runtime.topics.deliveries], delivery_handlers()
        )
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Plan B router",
        version="1",
        summary="Incidents, drafts and approvals, marketing pauses.",
        lifespan=lifespan,
    )
    install_common(app, "router")
    app.include_router(router)
    return app
