"""Publisher: sends approved messages to channels and serves the public status page (port 8002).

Run with `uvicorn --factory services.publisher.main:create_app`.
"""

import os
from functools import partial

import httpx
from fastapi import FastAPI

from services.publisher.api import api_router, status_router
from services.publisher.api_subscriptions import admin_router, public_router
from services.publisher.channels import ChannelRegistry, load_registry
from services.publisher.components import load_components
from services.publisher.dispatch import Dispatcher
from services.publisher.handlers import publisher_handlers
from services.publisher.incident_tags import incident_tag_handlers
from services.publisher.intake import with_requests_together
from services.publisher.metrics import PublisherMetrics
from services.publisher.models import Base
from services.publisher.notifier_setup import build_notifier
from services.publisher.planned_works import planned_works_handlers
from services.publisher.settings import PublisherSettings, get_settings
from shared.runtime.service import Runtime
from shared.web.app import create_service_app


def create_app(settings: PublisherSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    def prepare(app: FastAPI, runtime: Runtime) -> None:
        client = httpx.AsyncClient(
            timeout=settings.channel_timeout_seconds,
            headers={"User-Agent": "PlanB-publisher/1"},
            follow_redirects=False,
        )
        app.state.http = client
        app.state.components = load_components(settings.resolved_components_file())
        app.state.channels = load_registry(settings, client=client, env=os.environ)
        app.state.dispatcher = Dispatcher(
            runtime.database,
            app.state.channels,
            runtime.topics,
            runtime.relay.wake,
            policy=settings.retry_policy(),
            quick_attempts=settings.quick_retry_attempts,
            quick_max_wait=settings.quick_retry_max_wait_seconds,
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown_seconds=settings.breaker_cooldown_seconds,
            lease_seconds=settings.sending_lease_seconds,
            metrics=PublisherMetrics(app.state.metrics.registry),
        )
        app.state.waterfall = app.state.dispatcher.metrics.waterfall
        app.state.notifier = build_notifier(
            settings, runtime.database, components=app.state.components, client=client
        )
        runtime.without_kafka = (
            "degraded: Kafka unreachable; the status page is served and queued deliveries "
            "are sent, new messages wait on Kafka and outcomes in the outbox"
        )

    async def setup(app: FastAPI, runtime: Runtime) -> None:
        channels: ChannelRegistry = app.state.channels
        dispatcher: Dispatcher = app.state.dispatcher
        dispatcher.metrics.channels(list(channels.network))
        await dispatcher.recover()
        notifier = app.state.notifier
        runtime.supervise("subscribers", notifier.run, progress=lambda: notifier.last_round_at)
        runtime.supervise(
            "dispatch-recovery",
            dispatcher.run_recovery,
            progress=partial(dispatcher.last_round_at.get, "recovery"),
        )
        for channel_id in channels.network:
            runtime.supervise(
                f"dispatch-{channel_id}",
                partial(dispatcher.run_channel, channel_id),
                progress=partial(dispatcher.last_round_at.get, channel_id),
            )
        handlers = (
            publisher_handlers(
                topics=runtime.topics,
                channels=channels,
                wake=runtime.relay.wake,
                hand_over=dispatcher.hand_over,
                waterfall=dispatcher.metrics.waterfall,
                metrics=dispatcher.metrics,
            )
            | planned_works_handlers()
        )
        runtime.add_consumer(
            f"{settings.topic_prefix}-publisher",
            [runtime.topics.outbound],
            with_requests_together(
                handlers,
                channels=channels,
                hand_over_fresh=dispatcher.hand_over_fresh,
                waterfall=dispatcher.metrics.waterfall,
            ),
            fetch_max_wait_ms=settings.outbound_fetch_max_wait_ms,
        )
        runtime.add_consumer(
            f"{settings.topic_prefix}-publisher-incidents",
            [runtime.topics.incidents],
            incident_tag_handlers(),
        )

    async def teardown(app: FastAPI) -> None:
        await app.state.notifier.close()
        client: httpx.AsyncClient = app.state.http
        await client.aclose()

    return create_service_app(
        settings,
        title="Plan B publisher",
        summary="Deliver status updates to channels; the public status page.",
        metadata=Base.metadata,
        routers=[status_router, api_router, public_router, admin_router],
        form_prefixes=("/status/subscri",),
        prepare=prepare,
        setup=setup,
        teardown=teardown,
    )
