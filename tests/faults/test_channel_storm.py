"""A channel in a storm: for STORM_SECONDS a platform answers every post with 503 or 429, each
with a Retry-After, while a second platform stays healthy. The publisher runs as a real
process; approved messages stream in on `planb.outbound` throughout the storm.

Oracles, all kept by the peers (the peer is the clock, see shared/devtools/sandbox/faults.py):
- afterwards every message was accepted by its platform exactly once (one 2xx per
  Idempotency-Key), the storm channel's status updates threaded in the order sent;
- no request reached the stormy platform before the instant its last Retry-After named;
- the healthy channel kept delivering: all its messages were accepted before the storm ended.

Tolerance: Retry-After counts whole seconds. The peer writes HTTP-dates rounded up to the
second and reads back the instant the header it actually sent names, so that granularity
costs the client nothing. What remains is stamping: the peer stamps a request on arrival
(after the client sent it) and an answer before its bytes leave (before the client reads
it), both in the client's favour, so TOLERANCE only absorbs clock reads across threads.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.contract.events import (
    CloudEvent,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
)
from shared.contract.topics import Topics
from shared.devtools.sandbox import MastodonPeer, serve
from shared.devtools.sandbox.faults import Answer, Storm
from shared.runtime.kafka import EventProducer
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually

pytestmark = pytest.mark.faults

STORM_SECONDS = 30.0  # the scenario's duration: how long the platform refuses everything
ROUNDS = 10  # the stream: a round of messages every ROUND_SECONDS, inside the storm
ROUND_SECONDS = 2.0
PER_ROUND = 2  # messages per channel per round
TOLERANCE = 0.05  # seconds; see the module docstring
AFTER_STORM = 60.0  # how long the backlog may take to drain once the platform heals
STATUSES_PATH = "/api/v1/statuses"

INCIDENT = IncidentRef(
    incident_id="inc_storm",
    title="Signal failure at Central",
    severity=Severity.SEV2,
    status=IncidentStatus.INVESTIGATING,
)

CHANNELS = """
channels:
  - id: stormy
    type: mastodon
    name: Mastodon in a storm
    marketing: true
    url: {stormy}
    credentials_env: {{access_token: STORMY_MASTODON_TOKEN}}
  - id: calm
    type: mastodon
    name: Healthy Mastodon
    marketing: true
    url: {calm}
    credentials_env: {{access_token: CALM_MASTODON_TOKEN}}
"""


@pytest.fixture
def stormy() -> Iterator[tuple[MastodonPeer, str]]:
    peer = MastodonPeer(token="stormy-token", account="stormy")
    with serve(peer.app) as url:
        yield peer, url


@pytest.fixture
def calm() -> Iterator[tuple[MastodonPeer, str]]:
    peer = MastodonPeer(token="calm-token", account="calm")
    with serve(peer.app) as url:
        yield peer, url


@pytest.fixture
def publisher(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    stormy: tuple[MastodonPeer, str],
    calm: tuple[MastodonPeer, str],
) -> Iterator[ServiceProcess]:
    channels = tmp_path / "channels.yaml"
    channels.write_text(CHANNELS.format(stormy=stormy[1], calm=calm[1]))
    env = service_environment(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        channels_file=channels,
    )
    with scratch_database(tmp_path, "publisher") as database_url:
        env |= {
            "DATABASE_URL": database_url,
            "STORMY_MASTODON_TOKEN": stormy[0].token,
            "CALM_MASTODON_TOKEN": calm[0].token,
            # Short backoff and breaker rest, so the backlog drains soon after the storm; the
            # schedule caps any wait at RETRY_MAX_SECONDS, kept above the longest Retry-After.
            "RETRY_BASE_SECONDS": "1",
            "RETRY_MAX_SECONDS": "10",
            "BREAKER_COOLDOWN_SECONDS": "5",
            "MAX_DELIVERY_ATTEMPTS": "100",
        }
        with ServiceProcess("publisher", tmp_path, env=env) as running:
            yield running.start()


@pytest.fixture
async def producer(bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    running = EventProducer(bootstrap_servers, client_id="storm-test")
    await running.start()
    yield running
    await running.stop()


def message(channel_id: str, n: int) -> PublishRequested:
    """Every fourth message on a channel is a marketing post, the others status updates."""
    marketing = n % 4 == 0
    return PublishRequested(
        message_id=f"{channel_id}-{n:03d}",
        channel_id=channel_id,
        kind=MessageKind.MARKETING if marketing else MessageKind.STATUS_UPDATE,
        text=f"{'Weekend offer' if marketing else 'Trains held at Central'} ({channel_id} {n}).",
        incident=None if marketing else INCIDENT,
        post_id=f"post-{channel_id}-{n}" if marketing else None,
        approved_by=None if marketing else "duty",
        requested_at=datetime.now(UTC),
    )


async def stream(producer: EventProducer, topics: Topics) -> list[PublishRequested]:
    """ROUNDS rounds of PER_ROUND messages per channel, ROUND_SECONDS apart (the scenario)."""
    sent: list[PublishRequested] = []
    for round_ in range(ROUNDS):
        if round_:
            await asyncio.sleep(ROUND_SECONDS)
        for channel_id in ("stormy", "calm"):
            for k in range(PER_ROUND):
                data = message(channel_id, round_ * PER_ROUND + k)
                event = CloudEvent.wrap(data, source="/tests/storm", subject=data.message_id)
                await producer.publish(topics.outbound, channel_id, event)
                sent.append(data)
    return sent


def accepted_keys(peer: MastodonPeer) -> list[str | None]:
    return [a.idempotency_key for a in posts(peer) if a.accepted]


def posts(peer: MastodonPeer) -> list[Answer]:
    return sorted(
        (a for a in list(peer.answers) if a.method == "POST" and a.path == STATUSES_PATH),
        key=lambda a: a.arrived_at,
    )


def early_requests(answers: list[Answer]) -> list[str]:
    """Requests that reached the platform before an earlier answer's Retry-After allowed."""
    early = []
    for given in answers:
        if given.not_before is None:
            continue
        for later in answers:
            if given.answered_at <= later.arrived_at < given.not_before - TOLERANCE:
                early.append(
                    f"{later.idempotency_key} came {given.not_before - later.arrived_at:.2f}s "
                    f"early after {given.status} Retry-After: {given.retry_after} "
                    f"(to {given.idempotency_key})"
                )
    return early


async def test_a_storm_of_503_and_429_delivers_everything_once_and_honours_retry_after(
    publisher: ServiceProcess,
    producer: EventProducer,
    topic_prefix: str,
    stormy: tuple[MastodonPeer, str],
    calm: tuple[MastodonPeer, str],
) -> None:
    storm: Storm = stormy[0].storm(STORM_SECONDS)
    sent = await stream(producer, Topics(topic_prefix))
    expected = {
        channel: {m.message_id for m in sent if m.channel_id == channel}
        for channel in ("stormy", "calm")
    }

    async def calm_delivered() -> bool:
        return set(accepted_keys(calm[0])) == expected["calm"]

    await eventually(calm_delivered, within=STORM_SECONDS, what="the healthy channel's messages")
    late = [a for a in posts(calm[0]) if a.accepted and a.answered_at >= storm.ends_at]
    assert late == [], "the healthy channel waited for the storm"

    async def stormy_delivered() -> bool:
        return set(accepted_keys(stormy[0])) == expected["stormy"]

    await eventually(
        stormy_delivered,
        within=STORM_SECONDS + AFTER_STORM,
        what="every message on the stormy channel after the storm",
    )

    answers = posts(stormy[0])
    refused = [a for a in answers if not a.accepted]
    assert {a.status for a in refused} == {429, 503}
    assert all(a.not_before is not None for a in refused)
    early = early_requests(answers)
    assert early == [], "\n".join(early)
    for peer in (stormy[0], calm[0]):
        keys = accepted_keys(peer)
        assert sorted(keys) == sorted(set(keys)), "a message was accepted twice"
    # the storm channel's status updates still form one thread, in the order they were sent
    statuses = [m.text for m in sent if m.channel_id == "stormy" and m.incident is not None]
    threaded = [p for p in stormy[0].posts if p.text in statuses]
    assert [p.text for p in threaded] == statuses
    assert all(post.reply_to == before.id for before, post in itertools.pairwise(threaded))
    print(
        f"\nstorm {STORM_SECONDS:.0f}s: stormy {len(answers)} requests, {len(refused)} refused, "
        f"{len(expected['stormy'])} accepted, last at +"
        f"{max(a.answered_at for a in answers) - storm.ends_at:.1f}s after the storm; "
        f"calm {len(expected['calm'])} accepted, last at +"
        f"{max(a.answered_at for a in posts(calm[0])) - storm.started_at:.1f}s into the storm"
    )
