"""Router: incidents' state, drafts, approvals and marketing pauses (port 8001).

Run with `uvicorn --factory services.router.main:create_app`.
"""

from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.router.api import router
from services.router.api_admin import router as admin_router
from services.router.api_maintenance import router as maintenance_router
from services.router.api_marketing import router as marketing_router
from services.router.console.oidc import Oidc
from services.router.console.routes import FORM_PREFIXES
from services.router.console.routes import router as console_router
from services.router.context import RouterContext
from services.router.deliveries import delivery_handlers
from services.router.drafting import load_drafter
from services.router.incident_batch import incidents_together
from services.router.incidents import incident_handlers
from services.router.jobs import periodic_jobs
from services.router.metrics import router_source
from services.router.models import Base
from services.router.policy import load_policy
from services.router.settings import RouterSettings, get_settings
from shared.contract.channels import load_channels
from shared.runtime.fetch import Handlers
from shared.runtime.service import Runtime
from shared.runtime.waterfall import Waterfall, relay_stage
from shared.web.app import create_service_app


def bootstrap(
    settings: RouterSettings, runtime: Runtime, *, waterfall: Waterfall | None = None
) -> RouterContext:
    """Read configuration (failing fast with a clear message) and wire the context."""
    channels = load_channels(settings.resolved_channels_file())
    return RouterContext(
        topics=runtime.topics,
        channels=channels,
        policy=load_policy(settings.resolved_policy_file()),
        zone=ZoneInfo(settings.display_timezone),
        public_base_url=settings.public_base_url,
        wake_relay=runtime.relay.wake,
        drafter=load_drafter(settings.resolved_templates_dir(), settings.config_dir, channels),
        waterfall=waterfall or Waterfall(),
    )


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    def prepare(app: FastAPI, runtime: Runtime) -> None:
        app.state.oidc = Oidc(settings) if settings.oidc_enabled else None
        app.state.waterfall = Waterfall(app.state.metrics.registry)
        app.state.context = bootstrap(settings, runtime, waterfall=app.state.waterfall)
        app.state.snapshot.add(router_source(runtime.database, app.state.context.channels))
        runtime.relay.on_sent = relay_stage(runtime.topics.outbound, app.state.waterfall)
        runtime.without_kafka = (
            "degraded: Kafka unreachable; the console and the API are served, approvals and "
            "pauses wait in the outbox, new incidents and delivery outcomes wait on Kafka"
        )

    async def setup(app: FastAPI, runtime: Runtime) -> None:
        ctx: RouterContext = app.state.context
        group = f"{settings.topic_prefix}-router"
        one_by_one = incident_handlers(ctx)
        together = Handlers(one_by_one, together=incidents_together(ctx, one_by_one))
        incidents = runtime.add_consumer(f"{group}-incidents", [runtime.topics.incidents], together)
        runtime.add_consumer(
            f"{group}-deliveries", [runtime.topics.deliveries], delivery_handlers(ctx.waterfall)
        )
        for job in periodic_jobs(ctx, runtime.database, settings, pauses_first=incidents.idle):
            runtime.supervise(job.name, job.run, progress=job.last_round)

    return create_service_app(
        settings,
        title="Plan B router",
        summary="Incidents, drafts and approvals, marketing pauses.",
        metadata=Base.metadata,
        routers=[router, marketing_router, maintenance_router, admin_router, console_router],
        form_prefixes=FORM_PREFIXES,
        prepare=prepare,
        setup=setup,
    )
