"""The operations listener: `/metrics`, the API documents and `/readyz`'s details on a port
of their own (`OPS_PORT`), off the public one.

The public status page shares its port with whatever else the publisher serves, so the
metrics, the OpenAPI document and `/readyz` (which names the Kafka address) were readable by
anyone who could read the status page. On their own port they are reachable only where the
network lets them be (Prometheus inside the cluster), and the service's port keeps `/healthz`
and a `/readyz` that says only its status, for probes.
"""

import asyncio
import socket

import uvicorn
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from shared.web.headers import SecurityHeaders
from shared.web.ops import ops_router
from shared.web.problems import install_problem_handlers


def ops_app(main: FastAPI) -> FastAPI:
    """The operations endpoints of `main`, as an app of their own."""
    app = FastAPI(
        title=f"{main.title}: operations", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.metrics = main.state.metrics
    install_problem_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(
        ops_router(
            lambda _request: main.state.runtime.readiness(),
            failures=lambda _request: main.state.runtime.liveness(),
        )
    )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(main.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=main.title)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=main.title)

    return app


class OpsServer:
    """`ops_app(main)` served on `host:port` in the service's own event loop."""

    def __init__(self, main: FastAPI, *, host: str, port: int) -> None:
        self.host = host
        self.port = port
        config = uvicorn.Config(
            ops_app(main), lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind now, so a port already taken stops the service at start with its reason."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]), name="ops-listener")

    async def stop(self) -> None:
        if self.task is not None:
            self.server.should_exit = True
            await self.task
