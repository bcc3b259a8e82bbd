"""What every scenario shares: the broker, the channels and their configuration, the system
under test (started by bench/start.py, as processes or in this process) and the peers.

Channel peers are real HTTP servers on loopback (shared/devtools/sandbox), each in its own
thread of the bench process.
"""

import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI

from bench.http import Pool, Post
from bench.watch import Watcher
from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS as EMBEDDED_FETCH_MAX_WAIT_MS
from shared.devtools.broker import EmbeddedBroker
from shared.devtools.sandbox import WebhookPeer, serve
from shared.runtime.kafka_security import PLAINTEXT, KafkaSecurity
from shared.runtime.settings import CommonSettings

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
ALERTMANAGER_TOKEN = "bench-alertmanager-token-0123456789"
REGIONS = ("north", "south", "east", "west", "centre")


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
    processes: bool = True
    """Each service in a process of its own (as `planb run`), else all in this process."""
    database_server: str | None = None
    """A PostgreSQL server URL: each system gets fresh databases there; None: SQLite files."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each service process used in the current scenario (added as it stops)."""

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


def write_config(folder: Path, chosen: list[Channel]) -> None:
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
    """The running services as scenarios reach them: an httpx client each (over loopback to
    their processes, or ASGI in this process), and in processes mode their URLs and pids."""

    bench: Bench
    topics: Topics
    channels: list[Channel]
    tokens: dict[str, str]
    database_urls: dict[str, str]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)
    """In-process mode only: the apps themselves (their waterfall listeners)."""
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
    async def load(self, service: str) -> AsyncIterator[Post]:
        """What the load sends through: the lean keep-alive client to a service's process,
        or its httpx client in this process (ASGI: there is no socket to talk to)."""
        if service in self.urls:
            pool = Pool(self.urls[service])
            try:
                yield pool.post
            finally:
                await pool.close()
            return
        client = self.clients[service]

        async def post(
            path: str, body: dict[str, Any], headers: dict[str, str]
        ) -> tuple[int, bytes]:
            answer = await client.post(path, json=body, headers=headers)
            return answer.status_code, answer.content

        yield post


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
