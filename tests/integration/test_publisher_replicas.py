"""Two publisher replicas on one database (as two processes: an engine each). When one dies
mid-send and never comes back, the other takes its claim back once the lease has run out and
the platform gets the post once; a live replica's claim, renewed while its send lasts, is
never taken; and a channel sends one message at a time across replicas, so a follow-up never
goes out while the post it replies to is still in flight elsewhere, and a thread continues
on whichever replica sends next. Real database, a real loopback Mastodon peer.

(Found by tests/faults/test_scale_out.py and by reading the dispatcher with two replicas in
mind: a publisher killed for good left its in-flight delivery `sending` forever, because only
a starting publisher settled such rows; and the second replica's SKIP LOCKED took the next
row of a channel while the first was sending the one before it.)
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from services.publisher.channels import ChannelRegistry
from services.publisher.channels.platforms.mastodon import MastodonChannel
from services.publisher.dispatch import Dispatcher
from services.publisher.handlers import publisher_handlers
from services.publisher.models import Base, Delivery
from services.publisher.schedule import RetryPolicy
from shared.contract.channels import ChannelConfig, ChannelType
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
from shared.runtime.database import Database
from tests.support import eventually

CHANNEL = ChannelConfig(id="masto", type=ChannelType.MASTODON, name="Mastodon")
INCIDENT = IncidentRef(
    incident_id="inc_00000000000000000007",
    title="Lifts out of order",
    severity=Severity.SEV3,
    status=IncidentStatus.INVESTIGATING,
)


@dataclass
class Replicas:
    databases: list[Database]
    dispatchers: list[Dispatcher]
    registry: ChannelRegistry
    peer: MastodonPeer

    async def request(self, message_id: str, text: str = "Lifts out of order.") -> None:
        """The consumer's part: the delivery queued for the dispatchers."""
        message = PublishRequested(
            message_id=message_id,
            channel_id="masto",
            kind=MessageKind.STATUS_UPDATE,
            text=text,
            incident=INCIDENT,
            requested_at=datetime.now(UTC),
        )
        handlers = publisher_handlers(topics=Topics("planb"), channels=self.registry, wake=_nop)
        async with self.databases[0].transaction() as session:
            await handlers[PublishRequested.event_type](
                CloudEvent.wrap(message, source="/tests"), session
            )

    async def state(self, message_id: str) -> str:
        async with self.databases[0].sessions() as session:
            row = await session.get(Delivery, message_id)
        assert row is not None
        return row.state


def _nop() -> None:
    return None


@pytest.fixture
def peer() -> Iterator[tuple[MastodonPeer, str]]:
    mastodon = MastodonPeer()
    with serve(mastodon.app) as url:
        yield mastodon, url


@pytest.fixture
async def replicas(database_url: str, peer: tuple[MastodonPeer, str]) -> AsyncIterator[Replicas]:
    """Two dispatchers, each with its own engine on the one database (as two processes)."""
    databases = [Database(database_url) for _ in range(2)]
    await databases[0].create_all(Base.metadata)
    async with httpx.AsyncClient(timeout=30) as client:
        channel = MastodonChannel(
            channel_id="masto", base_url=peer[1], access_token=peer[0].token, client=client
        )
        registry = ChannelRegistry([CHANNEL], in_transaction={}, network={"masto": channel})
        dispatchers = [
            Dispatcher(
                database,
                registry,
                Topics("planb"),
                _nop,
                policy=RetryPolicy(),
                quick_attempts=1,
                quick_max_wait=0,
                lease_seconds=1.0,
            )
            for database in databases
        ]
        yield Replicas(databases, dispatchers, registry, peer[0])
    for database in databases:
        await database.dispose()


async def test_a_dead_replicas_send_is_taken_over_and_posted_once(replicas: Replicas) -> None:
    first, second = replicas.dispatchers
    replicas.peer.delay = 30.0  # the platform takes the post, the answer never comes in time
    await replicas.request("msg-1")
    dying = asyncio.create_task(first.dispatch_once("masto"))
    await eventually(lambda: _posted(replicas), what="the first replica's post at the peer")
    dying.cancel()  # killed mid-send: nothing settles its claim
    await asyncio.gather(dying, return_exceptions=True)
    assert await replicas.state("msg-1") == "sending"

    replicas.peer.delay = 0.0
    survivor = [
        asyncio.create_task(second.run_channel("masto")),
        asyncio.create_task(second.run_recovery()),
    ]
    try:

        async def published() -> bool:
            return await replicas.state("msg-1") == "published"

        await eventually(published, within=20, what="the survivor publishing the claim")
    finally:
        for task in survivor:
            task.cancel()
        await asyncio.gather(*survivor, return_exceptions=True)
    assert len(replicas.peer.posts) == 1  # sent again under the same Idempotency-Key
    assert replicas.peer.hits("/api/v1/statuses") == 2


async def test_a_claim_renewed_while_its_send_lasts_is_left_alone(replicas: Replicas) -> None:
    first, second = replicas.dispatchers
    replicas.peer.delay = 2.5  # the platform answers well after the 1 s lease
    await replicas.request("msg-2")
    sending = asyncio.create_task(first.dispatch_once("masto"))
    await eventually(lambda: _posted(replicas), what="the post at the peer")
    await asyncio.sleep(1.5)  # the scenario: the send outlasts the lease
    assert await second.recover(expired_only=True) == 0
    assert await sending == 0
    assert await replicas.state("msg-2") == "published"
    assert replicas.peer.hits("/api/v1/statuses") == 1


async def test_a_follow_up_waits_for_its_first_post_in_flight_on_the_other_replica(
    replicas: Replicas,
) -> None:
    first, second = replicas.dispatchers
    replicas.peer.delay = 1.0  # the first post is slow to answer
    await replicas.request("msg-first", "Lifts out of order.")
    await replicas.request("msg-next", "Engineers are on site.")
    sending = asyncio.create_task(first.dispatch_once("masto"))
    await eventually(lambda: _posted(replicas), what="the first post at the peer")
    assert await second.dispatch_once("masto") != 0  # the channel is busy: wait, send nothing
    assert await sending == 0
    replicas.peer.delay = 0.0
    # the first replica claimed the follow-up as it settled the first post (one transaction)
    assert await second.dispatch_once("masto") != 0
    assert await first.dispatch_once("masto") == 0
    await replicas.request("msg-last", "Lifts are back in service.")
    assert await second.dispatch_once("masto") == 0  # the thread as the other replica left it
    first_post, follow_up, last = replicas.peer.posts
    assert follow_up.reply_to == first_post.id
    assert last.reply_to == follow_up.id
    states = [await replicas.state(m) for m in ("msg-first", "msg-next", "msg-last")]
    assert states == ["published"] * 3


async def _posted(replicas: Replicas) -> bool:
    return len(replicas.peer.posts) == 1
