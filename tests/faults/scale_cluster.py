"""A scaled-out Plan B on one machine, for tests/faults/test_scale_out.py: one ingest, two
routers and two publishers as real processes in the same consumer groups, the routers on one
PostgreSQL database and the publishers on another, speaking to loopback platform peers.

What each member is doing is read from its own operations endpoints: `/readyz` names each
consumer's group, assigned partitions and handled count; the publisher's `/metrics` counts
its delivery outcomes; a router's log says how many marketing posts each scheduler round
emitted.
"""

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.contract.events import CloudEvent, parse_event
from shared.devtools.sandbox import MastodonPeer, Peer, RecordedPost, WebhookPeer
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import read_records

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
WEBHOOK_SECRET = "scale-out-webhook-secret"
MASTODON_TOKEN = "scale-out-mastodon-token"
NETWORK = ("hook-north", "hook-south", "masto")
CHANNELS = ("status", *NETWORK)
EMITTED = re.compile(r"emitted (\d+) due marketing posts")
SETTINGS = {
    "RATE_LIMIT_BURST": "10000",  # ingest: one operator token raises them all
    "MARKETING_POLL_SECONDS": "0.2",  # router: both schedulers look often, and compete
    "SENDING_LEASE_SECONDS": "6",  # publisher: a dead replica's claim is taken back soon
    "SCALE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "SCALE_MASTODON_TOKEN": MASTODON_TOKEN,
}


@dataclass
class Cluster:
    ingest: ServiceProcess
    routers: list[ServiceProcess]
    publishers: list[ServiceProcess]
    tokens: dict[str, str]
    topic_prefix: str
    bootstrap_servers: str
    router_db: AsyncEngine
    publisher_db: AsyncEngine
    http: httpx.AsyncClient

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def live_routers(self) -> list[ServiceProcess]:
        return [router for router in self.routers if router.running]

    async def consumer(self, member: ServiceProcess, group_suffix: str) -> dict[str, Any]:
        """The consumer detail `member` reports on /readyz for `<prefix>-<group_suffix>`."""
        body = (await self.http.get(f"{member.url}/readyz")).json()
        check: dict[str, Any] = body["checks"][f"consumer:{self.topic_prefix}-{group_suffix}"]
        detail: dict[str, Any] = check["detail"]
        return detail

    async def published_by(self, publisher: ServiceProcess) -> int:
        """Deliveries this publisher process reports as published on its /metrics."""
        metrics = (await self.http.get(f"{publisher.url}/metrics")).text
        pattern = r'planb_publisher_deliveries_total\{[^}]*outcome="published"} (\S+)'
        return int(sum(float(value) for value in re.findall(pattern, metrics)))


@asynccontextmanager
async def running_cluster(
    folder: Path,
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    postgres: str,
    peer_urls: dict[str, str],
) -> AsyncIterator[Cluster]:
    """Start the five processes side by side (the routers migrate their database together,
    as do the publishers), each service pair on a fresh database of its own."""
    channels = folder / "channels.yaml"
    channels.write_text(channels_yaml(peer_urls))
    env = (
        service_environment(
            folder,
            bootstrap_servers=bootstrap_servers,
            topic_prefix=topic_prefix,
            channels_file=channels,
            partitions=4,  # two per member of each group
        )
        | SETTINGS
    )
    with ExitStack() as stack:
        urls = {
            service: stack.enter_context(scratch_database(folder, service, server=postgres))
            for service in ("ingest", "router", "publisher")
        }

        def member(service: Any, name: str) -> ServiceProcess:
            return ServiceProcess(
                service, folder, name=name, env={**env, "DATABASE_URL": urls[service]}
            )

        ingest = member("ingest", "ingest")
        routers = [member("router", f"router-{m}") for m in "ab"]
        publishers = [member("publisher", f"publisher-{m}") for m in "ab"]
        members = [ingest, *routers, *publishers]
        engines = [create_async_engine(urls[service]) for service in ("router", "publisher")]
        try:
            await asyncio.gather(*(asyncio.to_thread(m.start) for m in members))
            async with httpx.AsyncClient(timeout=30) as http:
                yield Cluster(
                    ingest=ingest,
                    routers=routers,
                    publishers=publishers,
                    tokens=json.loads((folder / "dev-tokens.json").read_text()),
                    topic_prefix=topic_prefix,
                    bootstrap_servers=bootstrap_servers,
                    router_db=engines[0],
                    publisher_db=engines[1],
                    http=http,
                )
        finally:
            for engine in engines:
                await engine.dispose()
            for process in members:  # before their databases are dropped
                process.stop()


async def postgres_answers(url: str) -> bool:
    """True when the PostgreSQL server at `url` takes a connection within two seconds."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def channels_yaml(urls: dict[str, str]) -> str:
    """The status page, two signed webhooks and a Mastodon account; the three network
    channels take marketing, in regions the test's incidents never affect."""
    hooks = [
        {
            "id": channel_id,
            "type": "webhook",
            "name": f"Feed {channel_id}",
            "url": urls[channel_id] + "/hooks/planb",
            "marketing": True,
            "tags": {"regions": [channel_id.removeprefix("hook-")]},
            "credentials_env": {"secret": "SCALE_WEBHOOK_SECRET"},
        }
        for channel_id in ("hook-north", "hook-south")
    ]
    mastodon = {
        "id": "masto",
        "type": "mastodon",
        "name": "Mastodon",
        "url": urls["masto"],
        "marketing": True,
        "tags": {"regions": ["west"]},
        "credentials_env": {"access_token": "SCALE_MASTODON_TOKEN"},
    }
    status = {"id": "status", "type": "statuspage", "name": "Public status page"}
    return yaml.safe_dump({"channels": [status, *hooks, mastodon]})


def make_peers() -> dict[str, Peer]:
    return {
        "hook-north": WebhookPeer(secret=WEBHOOK_SECRET),
        "hook-south": WebhookPeer(secret=WEBHOOK_SECRET),
        "masto": MastodonPeer(token=MASTODON_TOKEN),
    }


def received(peer: Peer) -> Counter[str]:
    """How many times the platform accepted each message (by its Idempotency-Key)."""
    return Counter(post.headers.get("idempotency-key", "") for post in list(peer.posts))


def requested(peer: Peer) -> Counter[str]:
    """How many calls carried each message, refused and deduplicated ones included."""
    return Counter(
        seen.headers.get("idempotency-key", "") for seen in list(peer.requests) if seen.body
    )


def parent_of(post: RecordedPost) -> str | None:
    """The platform id a post replies to: the webhook's parent_id, Mastodon's in_reply_to_id."""
    if isinstance(post.reply_to, dict):
        return str(post.reply_to["parent_id"])
    return str(post.reply_to) if post.reply_to else None


def emitted_by(router: ServiceProcess) -> int:
    """Marketing posts this router's scheduler emitted, from its log (all its lives)."""
    return sum(int(count) for count in EMITTED.findall(router.log()))


async def query(engine: AsyncEngine, statement: str) -> list[Any]:
    """Rows of one read-only statement on a service's database."""
    async with engine.connect() as conn:
        return list((await conn.execute(text(statement))).all())


async def topic_records(bootstrap_servers: str, topic: str) -> list[CloudEvent]:
    """Every record on `topic`, redelivered copies included, in partition order."""
    records = await read_records(bootstrap_servers, topic, quiet_ms=1500)
    return [parse_event(record.value) for record in records]


async def stages(cluster: Cluster, began: datetime) -> str:
    """When each stage's first and last row was written, in seconds after `began`."""
    spans = []
    for what, database, column, table in (
        ("recorded", cluster.router_db, "opened_at", "incidents"),
        ("drafted", cluster.router_db, "created_at", "drafts"),
        ("approved", cluster.router_db, "decided_at", "drafts"),
        ("queued", cluster.publisher_db, "created_at", "deliveries"),
        ("published", cluster.publisher_db, "updated_at", "deliveries"),
    ):
        first, last = (await query(database, f"SELECT min({column}), max({column}) FROM {table}"))[
            0
        ]
        spans.append(
            f"{what} {(first - began).total_seconds():.0f}-{(last - began).total_seconds():.0f} s"
        )
    return ", ".join(spans)


async def progress(cluster: Cluster) -> str:
    """Where the work stands, for a failure message: rows by state in both databases."""
    lines = []
    for database, statement in (
        (cluster.router_db, "SELECT 'drafts', state, count(*) FROM drafts GROUP BY state"),
        (
            cluster.router_db,
            "SELECT 'router deliveries', state, count(*) FROM deliveries GROUP BY state",
        ),
        (
            cluster.router_db,
            "SELECT 'marketing', state, count(*) FROM marketing_posts GROUP BY state",
        ),
        (
            cluster.publisher_db,
            "SELECT 'publisher ' || channel_id, state, count(*) FROM deliveries "
            "GROUP BY channel_id, state",
        ),
    ):
        rows = await query(database, statement)
        lines += [f"{what} {state}: {count}" for what, state, count in rows]
    return "\n".join(lines)
