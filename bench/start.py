"""Starting the system under test for one scenario, on fresh topics and fresh databases.

Processes (the default, `--processes`): each service is `uvicorn --factory` in a process of
its own, spawned by the supervisor `planb run` uses (shared/devtools/supervisor.py: same
command, same server settings), its settings in environment variables, reached over loopback
HTTP; the bench process is the load and the outside consumer. Their CPU is read from /proc.

In-process (`--in-process`): each service is its real FastAPI app with its real lifespan,
reached through `httpx.ASGITransport`, as in tests/integration/test_eurostar.py, all three
and the load sharing one event loop: no HTTP hop, and the services compete for one core.
"""

import asyncio
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from bench.idle import ticks
from bench.system import ALERTMANAGER_TOKEN, WEBHOOK_SECRET, Bench, Channel, System, write_config
from bench.watch import Watcher
from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.publisher.main import create_app as create_publisher
from services.publisher.settings import PublisherSettings
from services.router.main import create_app as create_router
from services.router.settings import RouterSettings
from shared.contract.topics import Topics
from shared.devtools.broker import free_port
from shared.devtools.supervisor import Supervisor, service_specs
from shared.runtime.settings import CommonSettings
from shared.web.auth import generate_dev_tokens
from tests.databases import scratch_database

SERVICES = ("ingest", "router", "publisher")  # start-up order, as the registry gives it
IN_PROCESS: dict[str, tuple[type[CommonSettings], Callable[[Any], FastAPI]]] = {
    "ingest": (IngestSettings, create_ingest),
    "router": (RouterSettings, create_router),
    "publisher": (PublisherSettings, create_publisher),
}


@asynccontextmanager
async def running_system(
    bench: Bench,
    name: str,
    chosen: list[Channel],
    *,
    services: tuple[str, ...] = ("ingest", "router"),
    watch: tuple[str, ...] = ("outbound",),
    publisher: dict[str, Any] | None = None,
    ingest: dict[str, Any] | None = None,
) -> AsyncIterator[System]:
    """Start `services` on fresh topics and databases; a watcher reads the `watch` topics."""
    os.environ["BENCH_WEBHOOK_SECRET"] = WEBHOOK_SECRET  # the peers' secret, read by name
    folder = bench.root / f"{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    write_config(folder, chosen)
    tokens = generate_dev_tokens(folder)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": bench.bootstrap_servers,
        "topic_prefix": prefix,
        "topic_partitions": 8,
        "kafka_session_timeout_ms": 6000,
        "kafka_fetch_max_wait_ms": bench.fetch_max_wait_ms,
        "data_dir": folder,
        "config_dir": folder,
        "log_level": "WARNING",
    }
    extra = {
        "ingest": {
            "rate_limit_per_minute": 100_000_000,
            "rate_limit_burst": 1_000_000,
            "alertmanager_token": ALERTMANAGER_TOKEN,
            **(ingest or {}),
        },
        "publisher": publisher or {},
    }
    ordered = [s for s in SERVICES if s in services]
    with ExitStack() as databases:
        urls = {
            s: databases.enter_context(scratch_database(folder, s, server=bench.database_server))
            for s in ordered
        }
        settings = {s: {**common, **extra.get(s, {}), "database_url": urls[s]} for s in ordered}
        system = System(bench, Topics(prefix), chosen, tokens, urls)
        async with AsyncExitStack() as stack:
            start = _processes if bench.processes else _in_process
            await start(stack, system, settings)
            system.watcher = await stack.enter_async_context(
                Watcher.running(
                    bench.bootstrap_servers,
                    [getattr(system.topics, t) for t in watch],
                    bench.security,
                    fetch_max_wait_ms=bench.fetch_max_wait_ms,
                )
            )
            yield system


async def _processes(
    stack: AsyncExitStack, system: System, settings: dict[str, dict[str, Any]]
) -> None:
    """`planb run`'s way: the supervisor spawns each service's uvicorn and waits for /readyz."""
    specs = [
        dataclasses.replace(
            spec,
            env=_environment(settings[spec.name]),
            log_file=settings[spec.name]["data_dir"] / f"{spec.name}.log",
        )
        for spec in service_specs({s: free_port() for s in SERVICES})
        if spec.name in settings
    ]
    supervisor = Supervisor(specs, host="127.0.0.1", env={})
    stack.callback(supervisor.stop_all)
    if not await supervisor.start(ready_timeout=60):
        tails = [f"{spec.log_file}:\n{_tail(spec.log_file)}" for spec in specs if spec.log_file]
        raise RuntimeError("services did not start; their logs:\n" + "\n".join(tails))
    for spec in specs:
        url = f"http://127.0.0.1:{spec.port}"
        system.urls[spec.name] = url
        system.pids[spec.name] = supervisor.processes[spec.name].pid
        system.clients[spec.name] = await stack.enter_async_context(
            httpx.AsyncClient(base_url=url, timeout=60)
        )
    started = {name: ticks(pid) or 0 for name, pid in system.pids.items()}
    stack.callback(_add_cpu, system, started)  # runs before stop_all (callbacks unwind LIFO)


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _add_cpu(system: System, started: dict[str, int]) -> None:
    per_second = os.sysconf("SC_CLK_TCK")
    for name, pid in system.pids.items():
        used = ((ticks(pid) or 0) - started[name]) / per_second
        system.bench.cpu[name] = system.bench.cpu.get(name, 0.0) + used


def _environment(values: dict[str, Any]) -> dict[str, str]:
    """Settings as the environment variables pydantic-settings reads (no prefix)."""
    return {key.upper(): str(value) for key, value in values.items() if value is not None}


async def _in_process(
    stack: AsyncExitStack, system: System, settings: dict[str, dict[str, Any]]
) -> None:
    for service, values in settings.items():
        settings_class, factory = IN_PROCESS[service]
        app = factory(settings_class(**values))
        system.apps[service] = app
        system.clients[service] = await stack.enter_async_context(_serving(app, service))
        await _ready(system.clients[service], service)


@asynccontextmanager
async def _serving(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{name}", timeout=60
        ) as client:
            yield client


async def _ready(client: httpx.AsyncClient, name: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{name} not ready after {within}s")
