"""The HTTP floor: a bare FastAPI endpoint that answers 202 and does nothing else, served by
uvicorn exactly as `planb run` serves the services (shared/devtools/supervisor.py), in a
process of its own. What ingest's rate and latency are read against: the cost of FastAPI,
uvicorn and the bench's own client, with no validation, database or Kafka behind it.

`uvicorn --factory bench.httpfloor:create_app` is the server; `serving` starts it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.devtools.broker import free_port
from shared.devtools.supervisor import ServiceSpec, Supervisor

FACTORY = "bench.httpfloor:create_app"
ACCEPTED = {"status": "accepted", "incident_id": "inc_floor"}


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/incidents", status_code=202)
    async def accept() -> JSONResponse:
        return JSONResponse(ACCEPTED, status_code=202)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[str, int]]:
    """The floor server on a free loopback port: (base URL, pid)."""
    spec = ServiceSpec("http-floor", FACTORY, free_port())
    supervisor = Supervisor([spec], host="127.0.0.1", env={})
    try:
        if not await supervisor.start(ready_timeout=30):
            raise RuntimeError("the HTTP floor server did not start")
        yield f"http://127.0.0.1:{spec.port}", supervisor.processes[spec.name].pid
    finally:
        supervisor.stop_all()
