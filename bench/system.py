"""The system under test, in this process: ingest, router and publisher apps on the real broker.

Each service is its real FastAPI app with its real lifespan (database, producer, outbox relay,
consumers), reached through `httpx.ASGITransport`, as in tests/integration/test_eurostar.py.
All three and the load generator share one event loop: figures include that contention,
so they are an upper bound for the services run as separate processes. Channel peers are
real HTTP servers on loopback (shared/devtools/sandbox), each in its own thread.
"""

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI

from bench.watch import Watcher
from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.publisher.main import create_app as create_publisher
from services.publisher.settings import PublisherSettings
from services.router.main import create_app as create_router
from services.router.settings import RouterSettings
from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS as EMBEDDED_FETCH_MAX_WAIT_MS
from shared.devtools.broker import EmbeddedBroker
from shared.devtools.sandbox import WebhookPeer, serve
from shared.runtime.kafka_security import PLAINTEXT, KafkaSecurity
from shared.runtime.settings import CommonSettings
from shared.web.auth import generate_dev_tokens

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
ALERTMANAGER_TOKEN = "bench-alertmanager-token-0123456789"
REGIONS = ("north", "south", "east", "west", "centre")
SERVICES = ("ingest", "router", "publisher")


@dataclass
class Bench:
    """What every scenario shares: the broker, a scratch folder, sizes, progress output."""

    bootstrap_servers: str
    broker_kind: str
    root: Path
    quick: bool
    security: KafkaSecurity = PLAINTEXT
    broker_pid: int | None = None
    """The embedded broker's process (its CPU is read from /proc), None for an external one."""

    @property
    def fetch_max_wait_ms(self) -> int:
        """The services' (and the bench's own consumers') fetch wait: KAFKA_FETCH_MAX_WAIT_MS
        if set, else what `planb run` uses on this kind of broker."""
        if "KAFKA_FETCH_MAX_WAIT_MS" in os.environ or self.broker_pid is None:
            return CommonSettings().kafka_fetch_max_wait_ms
        return EMBEDDED_FETCH_MAX_WAIT_MS

    def progress(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def samples(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@contextmanager
def broker() -> Iterator[tuple[str, str, KafkaSecurity, int | None]]:
    """KAFKA_BOOTSTRAP_SERVERS (with the KAFKA_SECURITY_* settings) if set, else an embedded
    tansu broker for the run (with its pid)."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given, "external", CommonSettings().kafka_security(), None
        return
    with EmbeddedBroker() as embedded:
        assert embedded.process is not None
        yield embedded.bootstrap_servers, "embedded tansu", PLAINTEXT, embedded.process.pid


@dataclass
class Channel:
    id: str
    region: str
    url: str


def channels(count: int, url: str, *, slow: dict[str, str] | None = None) -> list[Channel]:
    """`count` webhook channels, regions round-robin; `slow` maps ids to another peer's URL."""
    slow = slow or {}
    return [
        Channel(
            f"c{i:05d}",
            REGIONS[i % len(REGIONS)],
            slow.get(f"c{i:05d}", url),
        )
        for i in range(count)
    ]


def _write_config(folder: Path, chosen: list[Channel]) -> None:
    entries = [
        {
            "id": c.id,
            "type": "webhook",
            "name": f"Feed {c.id}",
            "marketing": True,
            "url": c.url,
            "credentials_env": {"secret": "BENCH_WEBHOOK_SECRET"},
            "tags": {"regions": [c.region]},
        }
        for c in chosen
    ]
    (folder / "channels.yaml").write_text(yaml.safe_dump({"channels": entries}))
    policy = {
        "pause": [
            {"severities": ["sev1", "sev2"], "scope": "all"},
            {"severities": ["sev3"], "scope": "regions"},
            {"severities": ["sev4"], "scope": "none"},
        ],
        "approval": {"four_eyes": []},
    }
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))


@dataclass
class System:
    bench: Bench
    topics: Topics
    channels: list[Channel]
    tokens: dict[str, str]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)
    watcher: Watcher | None = None
    answers: Counter[str] = field(default_factory=Counter)
    """Ingest's 202s by status (accepted, queued)."""

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def ingest(self) -> httpx.AsyncClient:
        return self.clients["ingest"]

    @property
    def router(self) -> httpx.AsyncClient:
        return self.clients["router"]

    async def raise_incident(self, severity: str = "sev1", **extra: Any) -> tuple[str, float]:
        """POST /v1/incidents; (incident id, perf_counter when the 202 arrived)."""
        body = {"title": "Signalling fault at Central", "severity": severity, **extra}
        answer = await self.ingest.post("/v1/incidents", json=body, headers=self.auth("operator"))
        accepted = time.perf_counter()
        if answer.status_code != 202:
            raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text}")
        # `queued`: Kafka took longer than ACCEPT_WAIT_MS; the relay sends it (counted)
        self.answers[answer.json()["status"]] += 1
        return str(answer.json()["incident_id"]), accepted


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
    """Start `services` on fresh topics and SQLite files; a watcher reads `watch` topics."""
    os.environ["BENCH_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    folder = bench.root / f"{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    _write_config(folder, chosen)
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
    settings: dict[str, Any] = {
        "ingest": IngestSettings(
            **common,
            rate_limit_per_minute=100_000_000,
            rate_limit_burst=1_000_000,
            alertmanager_token=ALERTMANAGER_TOKEN,
            **(ingest or {}),
        ),
        "router": RouterSettings(**common),
        "publisher": PublisherSettings(**common, **(publisher or {})),
    }
    factories = {"ingest": create_ingest, "router": create_router, "publisher": create_publisher}
    topics = Topics(prefix)
    system = System(bench, topics, chosen, tokens)
    async with AsyncExitStack() as stack:
        for service in SERVICES:  # publisher before router: it must see every outbound record
            if service not in services:
                continue
            app = factories[service](settings[service])
            system.apps[service] = app
            system.clients[service] = await stack.enter_async_context(_serving(app, service))
            await _ready(system.clients[service], service)
        system.watcher = await stack.enter_async_context(
            Watcher.running(
                bench.bootstrap_servers,
                [getattr(topics, t) for t in watch],
                bench.security,
                fetch_max_wait_ms=bench.fetch_max_wait_ms,
            )
        )
        yield system


@contextmanager
def peers(delay: float, slow_delay: float | None = None) -> Iterator[tuple[str, str | None]]:
    """A webhook peer answering after `delay` (and a slow one after `slow_delay`): URLs."""
    fast = WebhookPeer(secret=WEBHOOK_SECRET)
    fast.delay = delay
    with serve(fast.app) as fast_url:
        if slow_delay is None:
            yield fast_url + "/hooks/planb", None
            return
        slow = WebhookPeer(secret=WEBHOOK_SECRET)
        slow.delay = slow_delay
        with serve(slow.app) as slow_url:
            yield fast_url + "/hooks/planb", slow_url + "/hooks/planb"
