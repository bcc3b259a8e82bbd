"""Building a service's FastAPI app: the lifespan every service shares, in one place.

`create_service_app` makes the `Runtime` (database, producer, relay), loads the tokens, calls
the service's `setup` to wire its own context and consumers, freezes what start-up built out
of the garbage collector's way (shared/runtime/heap.py), and stops it all on shutdown.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from shared.runtime.heap import SlowCollections, freeze_startup_heap, thaw_heap
from shared.runtime.logs import configure_logging
from shared.runtime.metrics import ConsumerCollector, Snapshot, runtime_source
from shared.runtime.service import Runtime
from shared.runtime.settings import CommonSettings
from shared.runtime.tracing import configure_tracing, without_query
from shared.web.accounts import Accounts
from shared.web.auth import TokenStore
from shared.web.ops import install_common
from shared.web.ops_server import OpsServer

Setup = Callable[[FastAPI, Runtime], Awaitable[None]]


async def _no_setup(_app: FastAPI, _runtime: Runtime) -> None:
    return None


def create_service_app(
    settings: CommonSettings,
    *,
    title: str,
    summary: str,
    metadata: MetaData,
    routers: list[APIRouter],
    prepare: Callable[[FastAPI, Runtime], None] | None = None,
    setup: Setup = _no_setup,
    body_limits: dict[str, int] | None = None,
    teardown: Callable[[FastAPI], Awaitable[None]] | None = None,
    form_prefixes: tuple[str, ...] = (),
) -> FastAPI:
    """`prepare` runs before start (read config, fail fast); `setup` after (add consumers);
    `teardown` after the runtime stopped (close clients the background tasks used);
    `form_prefixes`: paths whose routes take HTML form bodies (a web console)."""
    configure_logging(settings.log_level, settings.service_name, settings.log_format)
    tracing = configure_tracing(settings.service_name)
    ops_port = settings.resolved_ops_port()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metadata=metadata)
        app.state.settings = settings
        tokens_file = settings.resolved_tokens_file()
        # personal tokens need no file: only one named by TOKENS_FILE must exist
        optional = settings.tokens_file is None and not tokens_file.exists()
        app.state.tokens = TokenStore([]) if optional else TokenStore.from_file(tokens_file)
        app.state.runtime = runtime
        registry = app.state.metrics.registry
        snapshot = app.state.snapshot = Snapshot(interval_seconds=settings.metrics_refresh_seconds)
        snapshot.add(runtime_source(runtime))
        consumers = ConsumerCollector(runtime.consumers)
        registry.register(snapshot)
        registry.register(consumers)
        accounts_url = settings.resolved_accounts_database_url()
        own = runtime.database if accounts_url == runtime.database.url else None
        app.state.accounts = Accounts(accounts_url, database=own)
        if prepare is not None:
            prepare(app, runtime)
        ops = None if ops_port is None else OpsServer(app, host=settings.ops_host, port=ops_port)
        if ops is not None:
            await ops.start()
        try:
            await runtime.start()
            accounts: Accounts = app.state.accounts
            runtime.supervise(
                "token-last-used", accounts.record_uses, progress=lambda: accounts.flushed_at
            )
            slow_collections = SlowCollections()
            try:
                await setup(app, runtime)
                runtime.supervise("metrics", snapshot.run, progress=lambda: snapshot.last_round_at)
                freeze_startup_heap()  # start-up's objects: out of every full collection
                slow_collections.install()
                yield
            finally:
                slow_collections.remove()
                thaw_heap()
                await accounts.last_flush()
                await runtime.stop()
                await accounts.close()
                if teardown is not None:
                    await teardown(app)
        finally:
            if tracing is not None:
                tracing.shutdown()  # the last spans exported
            registry.unregister(snapshot)
            registry.unregister(consumers)
            if ops is not None:
                await ops.stop()

    # with an operations port, the API documents are served there only (see ops_server.py)
    hidden = {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(
        title=title,
        version="1",
        summary=summary,
        lifespan=lifespan,
        **(hidden if ops_port is not None else {}),  # type: ignore[arg-type]
    )
    install_common(
        app,
        settings.service_name,
        body_limits=body_limits,
        form_prefixes=form_prefixes,
        ops_elsewhere=ops_port is not None,
    )
    for router in routers:
        app.include_router(router)
    if tracing is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracing,
            excluded_urls="/healthz,/readyz,/metrics",
            server_request_hook=without_query,
        )
    return app
