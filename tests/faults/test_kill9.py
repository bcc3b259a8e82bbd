"""kill -9 of the router, then of the publisher, in the middle of a stream of incidents.

Ingest, router and publisher run as real processes (tests/processes.py) on the session
broker, each with a database of its own (SQLite, or PostgreSQL with TEST_DATABASE_URL). The
router's policy approves sev4 drafts by itself (`approval.auto_approve`), so every draft is
published at once on three channels, each a loopback peer: two signed webhooks and a
Mastodon instance. Every fourth incident gets a follow-up, which must thread under the
incident's first post.

An operator raises FAULTS_INCIDENTS (default 2,000) sev4 incidents through ingest's HTTP API,
16 at a time. Once posts for a fifth of the incidents have reached the peers the router is
killed with SIGKILL and started again; at half, the publisher is. The oracle, once
everything has settled:

- the router: every accepted incident, with its drafts: one for an incident without a
  follow-up; one or two with one, the latest for the follow-up (the router drafts a burst of
  events for one incident once, for the latest: draft_queue.py); all approved by the policy,
  none still waiting to be written;
- the peers: every approved text exactly once (counted by idempotency key at the peer), a
  follow-up threaded under the incident's first post; the only requests a peer may see twice
  are the ones in flight at the publisher's kill (one per channel at most), which the
  publisher resends under the same idempotency key;
- every delivery `published` in the publisher's database and reported back to the router.

The figures (accept rate, drafts/s through the router, posts/s at the peers, restart gaps)
are printed; run with `-s` to see them.
"""

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.publisher.models import Delivery as PublisherDelivery
from services.router.models import Delivery as RouterDelivery
from services.router.models import Draft, DraftText, Incident, TimelineEntry
from shared.devtools.sandbox import MastodonPeer, Peer, RecordedPost, WebhookPeer, serve
from shared.runtime.database import Database
from shared.web.auth import generate_dev_tokens
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually

pytestmark = pytest.mark.faults

INCIDENTS = int(os.environ.get("FAULTS_INCIDENTS", "2000"))
FOLLOW_UP_EVERY = 4
CONCURRENCY = 16
ROUTER_KILL_AT = 0.2  # of the incidents' first posts at the peers
PUBLISHER_KILL_AT = 0.5
FLOW_LIMIT_SECONDS = 600.0  # a guard against a hang, not a timing assertion
# the incident status of each draft, oldest first; the router drafts a burst of events for
# one incident once, for the latest, so a follow-up may come before the first draft
FIRST_ONLY = [["investigating"]]
WITH_FOLLOW_UP = [["investigating", "identified"], ["identified"]]

POLICY = """
approval:
  four_eyes: [sev1, sev2]
  auto_approve: [sev4]
"""

CHANNELS = """
channels:
  - id: hook-a
    type: webhook
    name: Webhook A
    url: {hook_a}
    credentials_env: {{secret: KILL9_HOOK_A_SECRET}}
  - id: hook-b
    type: webhook
    name: Webhook B
    url: {hook_b}
    credentials_env: {{secret: KILL9_HOOK_B_SECRET}}
  - id: masto
    type: mastodon
    name: Mastodon
    url: {masto}
    credentials_env: {{access_token: KILL9_MASTODON_TOKEN}}
"""

POST_PATHS = {"hook-a": "/hooks/planb", "hook-b": "/hooks/planb", "masto": "/api/v1/statuses"}


@dataclass
class System:
    ingest: ServiceProcess
    router: ServiceProcess
    publisher: ServiceProcess
    peers: dict[str, Peer]
    databases: dict[str, str]
    tokens: dict[str, str]


@dataclass
class Progress:
    """What the test saw and when (monotonic seconds), for the figures."""

    start: float = field(default_factory=time.monotonic)
    accepted: dict[int, str] = field(default_factory=dict)  # n -> incident id
    followed_up: set[str] = field(default_factory=set)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (t, posts at peers)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, what: str) -> None:
        self.marks[what] = time.monotonic() - self.start


@pytest.fixture
def peers() -> Iterator[dict[str, tuple[Peer, str]]]:
    made: dict[str, Peer] = {
        "hook-a": WebhookPeer(secret="kill9-hook-a-secret"),
        "hook-b": WebhookPeer(secret="kill9-hook-b-secret"),
        "masto": MastodonPeer(token="kill9-mastodon-token"),
    }
    with ExitStack() as stack:
        yield {name: (peer, stack.enter_context(serve(peer.app))) for name, peer in made.items()}


@pytest.fixture
def system(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    peers: dict[str, tuple[Peer, str]],
) -> Iterator[System]:
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        CHANNELS.format(
            hook_a=peers["hook-a"][1] + POST_PATHS["hook-a"],
            hook_b=peers["hook-b"][1] + POST_PATHS["hook-b"],
            masto=peers["masto"][1],
        )
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with ExitStack() as stack:
        databases = {
            name: stack.enter_context(scratch_database(tmp_path, name))
            for name in ("ingest", "router", "publisher")
        }
        env = service_environment(
            tmp_path,
            bootstrap_servers=bootstrap_servers,
            topic_prefix=topic_prefix,
            channels_file=channels,
        )
        env |= {
            "POLICY_FILE": str(policy),
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_BURST": "100000",
            "KILL9_HOOK_A_SECRET": "kill9-hook-a-secret",
            "KILL9_HOOK_B_SECRET": "kill9-hook-b-secret",
            "KILL9_MASTODON_TOKEN": "kill9-mastodon-token",
        }
        processes = {
            name: ServiceProcess(name, tmp_path, env={**env, "DATABASE_URL": databases[name]})
            for name in ("ingest", "router", "publisher")
        }
        for process in processes.values():
            stack.callback(process.stop)
            process.start()
        yield System(
            ingest=processes["ingest"],
            router=processes["router"],
            publisher=processes["publisher"],
            peers={name: peer for name, (peer, _) in peers.items()},
            databases=databases,
            tokens=generate_dev_tokens(tmp_path),  # the ones service_environment made
        )


@pytest.fixture
async def router_db(system: System) -> AsyncIterator[Database]:
    database = Database(system.databases["router"])
    yield database
    await database.dispose()


@pytest.fixture
async def publisher_db(system: System) -> AsyncIterator[Database]:
    database = Database(system.databases["publisher"])
    yield database
    await database.dispose()


def posts_at_peers(system: System) -> int:
    return sum(len(peer.posts) for peer in system.peers.values())


async def raise_incidents(ingest: httpx.AsyncClient, progress: Progress) -> None:
    """INCIDENTS sev4 incidents, CONCURRENCY at a time; every FOLLOW_UP_EVERY-th gets an
    update once its raise is accepted."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def post(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = await ingest.post(path, json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def one(n: int) -> None:
        async with slots:
            raised = await post(
                "/v1/incidents",
                {"title": f"Kill test incident {n}", "severity": "sev4"},
                f"kill9-raise-{n}",
            )
            incident_id = str(raised["incident_id"])
            progress.accepted[n] = incident_id
            if n % FOLLOW_UP_EVERY == 0:
                await post(
                    f"/v1/incidents/{incident_id}/updates",
                    {"status": "identified", "message": f"Follow-up to incident {n}."},
                    f"kill9-update-{n}",
                )
                progress.followed_up.add(incident_id)

    await asyncio.gather(*(one(n) for n in range(INCIDENTS)))
    progress.mark("all accepted")


async def sample(system: System, progress: Progress) -> None:
    while True:
        progress.samples.append((time.monotonic() - progress.start, posts_at_peers(system)))
        await asyncio.sleep(0.25)  # a measurement interval, not a wait for an outcome


async def until_posts(system: System, count: int, load: "asyncio.Task[None]", what: str) -> None:
    async def reached() -> bool:
        if load.done() and load.exception() is not None:
            raise AssertionError("the load failed") from load.exception()
        return posts_at_peers(system) >= count

    await eventually(reached, within=FLOW_LIMIT_SECONDS, interval=0.02, what=what)


async def restart(process: ServiceProcess, progress: Progress) -> None:
    """SIGKILL, then start again on the same port and database (waits for /readyz)."""
    progress.mark(f"{process.name} killed")
    process.kill()
    await asyncio.to_thread(process.start)
    progress.mark(f"{process.name} ready")


def parent_of(post: RecordedPost) -> str | None:
    """The remote id a post replies to: Mastodon's in_reply_to_id, the webhook's parent_id."""
    if isinstance(post.reply_to, dict):
        return str(post.reply_to["parent_id"])
    return str(post.reply_to) if post.reply_to else None


@dataclass(frozen=True)
class Message:
    """One approved text of a draft, from the router's database."""

    incident_id: str
    channel_id: str
    message_id: str
    rank: int  # the draft's place among its incident's drafts, 0 for the first


async def router_messages(router_db: Database) -> list[Message]:
    async with router_db.sessions() as session:
        rows = (
            await session.execute(
                select(Draft.incident_id, Draft.id, DraftText.channel_id, DraftText.message_id)
                .join(DraftText, DraftText.draft_id == Draft.id)
                .order_by(Draft.incident_id, Draft.created_at, Draft.id)
            )
        ).all()
    drafts: dict[str, list[str]] = {}
    found = []
    for incident_id, draft_id, channel_id, message_id in rows:
        ranks = drafts.setdefault(incident_id, [])
        if draft_id not in ranks:
            ranks.append(draft_id)
        found.append(Message(incident_id, channel_id, str(message_id), ranks.index(draft_id)))
    return found


async def count(database: Database, model: Any, *conditions: Any) -> int:
    async with database.sessions() as session:
        query = select(func.count()).select_from(model).where(*conditions)
        return int(await session.scalar(query) or 0)


async def span(database: Database, column: Any, *conditions: Any) -> float:
    """Seconds between the first and the last value of a time column."""
    async with database.sessions() as session:
        first, last = (
            await session.execute(select(func.min(column), func.max(column)).where(*conditions))
        ).one()
    return float((last - first).total_seconds())


async def settled(
    system: System, router_db: Database, progress: Progress, load: "asyncio.Task[None]"
) -> bool:
    """Every event handled, every draft written, posted at its peer and reported back."""
    if not load.done():
        return False
    if load.exception() is not None:
        raise AssertionError("the load failed") from load.exception()
    updated = await count(router_db, TimelineEntry, TimelineEntry.kind == "updated")
    waiting = await count(router_db, Incident, Incident.draft_cause_id.is_not(None))
    texts = await count(router_db, DraftText)
    published = await count(router_db, RouterDelivery, RouterDelivery.state == "published")
    return (
        await count(router_db, Incident) == INCIDENTS
        and updated == len(progress.followed_up)
        and waiting == 0
        and posts_at_peers(system) >= texts
        and published >= texts
    )


def figures(progress: Progress, events_seconds: float, drafts: int, posts: int) -> str:
    first_post = next(t for t, n in progress.samples if n > 0)
    last_post = next(t for t, n in progress.samples if n >= posts)
    accepted_in = progress.marks["all accepted"]
    events = INCIDENTS + len(progress.followed_up)

    def gap(name: str) -> str:
        killed = progress.marks[f"{name} killed"]
        ready = progress.marks[f"{name} ready"]
        return f"{name} ready {ready - killed:.1f}s after its kill"

    return (
        f"{events} events ({INCIDENTS} incidents, {len(progress.followed_up)} follow-ups) "
        f"accepted by ingest in {accepted_in:.1f}s ({events / accepted_in:.1f}/s); "
        f"handled by the router in {events_seconds:.1f}s ({events / events_seconds:.1f}/s, "
        f"its kill included) into {drafts} drafts; {posts} posts at the peers in "
        f"{last_post - first_post:.1f}s ({posts / (last_post - first_post):.1f}/s); "
        f"{gap('router')}, {gap('publisher')}; all posted {last_post:.1f}s after the first "
        f"request"
    )


async def test_kill9_router_and_publisher_mid_stream(
    system: System, router_db: Database, publisher_db: Database
) -> None:
    firsts = INCIDENTS * len(POST_PATHS)
    progress = Progress()
    async with httpx.AsyncClient(
        base_url=system.ingest.url,
        timeout=30,
        headers={"Authorization": f"Bearer {system.tokens['operator']}"},
        limits=httpx.Limits(max_connections=CONCURRENCY),
    ) as ingest:
        sampler = asyncio.create_task(sample(system, progress))
        load = asyncio.create_task(raise_incidents(ingest, progress))
        try:
            await until_posts(system, int(firsts * ROUTER_KILL_AT), load, "posts, router")
            await restart(system.router, progress)
            await until_posts(system, int(firsts * PUBLISHER_KILL_AT), load, "posts, publisher")
            await restart(system.publisher, progress)
            await eventually(
                lambda: settled(system, router_db, progress, load),
                within=FLOW_LIMIT_SECONDS,
                interval=0.5,
                what="every draft written, posted and reported back",
            )
            progress.samples.append((time.monotonic() - progress.start, posts_at_peers(system)))
        finally:
            sampler.cancel()
            load.cancel()

    # the router: every incident with its drafts, the latest for its latest event
    accepted = set(progress.accepted.values())
    assert len(accepted) == INCIDENTS
    async with router_db.sessions() as session:
        incidents = set((await session.scalars(select(Incident.id))).all())
        drafts = (
            await session.execute(
                select(
                    Draft.incident_id, Draft.incident_status, Draft.state, Draft.decided_by
                ).order_by(Draft.incident_id, Draft.created_at, Draft.id)
            )
        ).all()
        router_deliveries = Counter((await session.scalars(select(RouterDelivery.state))).all())
    assert incidents == accepted
    statuses: dict[str, list[str]] = {}
    for incident_id, status, _, _ in drafts:
        statuses.setdefault(incident_id, []).append(status)
    allowed = {i: WITH_FOLLOW_UP if i in progress.followed_up else FIRST_ONLY for i in accepted}
    wrong = {i: s for i, s in statuses.items() if s not in allowed[i]}
    assert set(statuses) == accepted
    assert wrong == {}, (
        f"{len(wrong)} incidents with the wrong drafts, e.g. {list(wrong.items())[:5]}"
    )
    assert Counter((state, by) for _, _, state, by in drafts) == {
        ("approved", "policy"): len(drafts)
    }

    # the peers: every approved text exactly once, follow-ups threaded under the first post
    messages = await router_messages(router_db)
    assert router_deliveries == {"published": len(messages)}
    resent: dict[str, int] = {}
    for channel_id, peer in system.peers.items():
        posted = Counter(post.headers["idempotency-key"] for post in peer.posts)
        mine = {m.message_id for m in messages if m.channel_id == channel_id}
        twice = {key: n for key, n in posted.items() if n > 1}
        assert twice == {}, f"{channel_id}: posted more than once: {twice}"
        missing, unknown = len(mine - set(posted)), len(set(posted) - mine)
        assert set(posted) == mine, f"{channel_id}: {missing} missing, {unknown} unknown"
        requests = Counter(
            seen.headers.get("idempotency-key")
            for seen in peer.requests
            if seen.path == POST_PATHS[channel_id] and seen.method == "POST"
        )
        resent |= {f"{channel_id}/{key}": n - 1 for key, n in requests.items() if n > 1}
        by_key = {post.headers["idempotency-key"]: post for post in peer.posts}
        on_channel = [m for m in messages if m.channel_id == channel_id]
        first_of = {m.incident_id: by_key[m.message_id].id for m in on_channel if m.rank == 0}
        threads = Counter((m.incident_id, parent_of(by_key[m.message_id])) for m in on_channel)
        expected = Counter(
            (m.incident_id, first_of[m.incident_id] if m.rank else None) for m in on_channel
        )
        assert threads == expected, f"{channel_id}: {len(threads - expected)} misthreaded"
    assert sum(resent.values()) <= len(system.peers), f"resent beyond the kill: {resent}"

    # the publisher: every delivery published, none left sending, pending or failed
    async with publisher_db.sessions() as session:
        states = Counter((await session.scalars(select(PublisherDelivery.state))).all())
    assert states == {"published": len(messages)}

    events_seconds = await span(
        router_db, TimelineEntry.at, TimelineEntry.kind.in_(["raised", "updated"])
    )
    print(
        f"\nkill -9 figures: {figures(progress, events_seconds, len(drafts), len(messages))}; "
        f"resent after the publisher's kill: {sorted(resent)}"
    )
