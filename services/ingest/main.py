"""Ingest: the incident intake API for operators and monitoring (port 8000).

Run with `uvicorn --factory services.ingest.main:create_app`.
"""

from datetime import timedelta

from fastapi import FastAPI

from services.ingest.alertmanager import load_mapping
from services.ingest.api import router
from services.ingest.intake import Intake
from services.ingest.metrics import IngestMetrics
from services.ingest.models import Base
from services.ingest.ratelimit import RateLimiter
from services.ingest.settings import IngestSettings, get_settings
from shared.runtime.service import Runtime
from shared.web.app import create_service_app


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    def prepare(app: FastAPI, runtime: Runtime) -> None:
        metrics = IngestMetrics(app.state.metrics.registry)
        runtime.without_kafka = "degraded: Kafka unreachable, events wait in the outbox"
        runtime.relay.on_depth = metrics.outbox_depth.set
        app.state.alert_mapping = load_mapping(settings.resolved_alertmanager_mapping_file())
        app.state.rate_limiter = RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst
        )
        app.state.alert_rate_limiter = RateLimiter(
            settings.alertmanager_rate_limit_per_minute, settings.alertmanager_rate_limit_per_minute
        )
        app.state.intake = Intake(
            runtime,
            metrics,
            idempotency_ttl=timedelta(hours=settings.idempotency_ttl_hours),
            accept_wait=settings.accept_wait_ms / 1000,
            batch_limit=settings.commit_batch_limit,
        )

    return create_service_app(
        settings,
        title="Plan B ingest",
        summary="Raise and update incidents; Alertmanager webhook.",
        metadata=Base.metadata,
        routers=[router],
        prepare=prepare,
        body_limits={"/v1/alerts/alertmanager": 1024 * 1024},  # grouped alerts run large
    )
