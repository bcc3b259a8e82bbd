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
from shared.runtime.service import Runtime
from shared.runtime.settings import CommonSettings
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
    configure_logging(settings.log_level, settings.service_name)
    ops_port = settings.resolved_ops_port()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metadata=metadata)
        app.state.settings = settings
        app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
        app.state.runtime = runtime
        if prepare is not None:
            prepare(app, runtime)
        ops = None if ops_port is None else OpsServer(app, host=settings.ops_host, port=ops_port)
        if ops is not None:
            await ops.start()
        try:
            await runtime.start()
            slow_collections = SlowCollections()
            try:
                await setup(app, runtime)
                freeze_startup_heap()  # start-up's objects: out of every full collection
                slow_collections.install()
                yield
            finally:
                slow_collections.remove()
                thaw_heap()
                await runtime.stop()
                if teardown is not None:
                    await teardown(app)
        finally:
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
    return app
