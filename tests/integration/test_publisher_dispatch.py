"""The publisher's delivery engine against real loopback platforms and a real database:
threads follow-ups, retries on a durable schedule, fails on refusals, holds marketing on
pause, never posts twice across a crash, and keeps one slow platform from delaying another."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select

from services.publisher.channels import ChannelRegistry
from services.publisher.channels.platforms.mastodon import MastodonChannel
from services.publisher.channels.platforms.x import XChannel
from services.publisher.dispatch import Dispatcher
from services.publisher.handlers import publisher_handlers
from services.publisher.intake import with_requests_together
from services.publisher.models import Base, Delivery
from services.publisher.schedule import RetryPolicy
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.events import (
    ChannelPaused,
    CloudEvent,
    DeliveryFailed,
    DeliveryHeld,
    DeliveryPublished,
    DeliveryRetrying,
    EventData,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
    parse_event,
)
from shared.contract.topics import Topics
from shared.devtools.sandbox import MastodonPeer, XPeer, serve
from shared.runtime.database import Database, OutboxEntry
from shared.runtime.fetch import Outcome, Parsed, handle_together
from shared.runtime.waterfall import Waterfall
from tests.support import eventually

INCIDENT = IncidentRef(
    incident_id="inc_00000000000000000042",
    title="Signal failure",
    severity=Severity.SEV2,
    status=IncidentStatus.INVESTIGATING,
)
CHANNELS = [
    ChannelConfig(id="masto", type=ChannelType.MASTODON, name="Mastodon", marketing=True),
    ChannelConfig(id="x", type=ChannelType.X, name="X", marketing=True),
]


@pytest.fixture
def mastodon() -> Iterator[tuple[MastodonPeer, str]]:
    peer = MastodonPeer()
    with serve(peer.app) as url:
        yield peer, url


@pytest.fixture
def x() -> Iterator[tuple[XPeer, str]]:
    peer = XPeer()
    with serve(peer.app) as url:
        yield peer, url


@dataclass
class Engine:
    database: Database
    dispatcher: Dispatcher
    handlers: dict[str, object]
    topics: Topics

    async def handle(self, data: EventData) -> None:
        event = CloudEvent.wrap(data, source="/tests")
        async with self.database.transaction() as session:
            await self.handlers[event.type](event, session)  # type: ignore[operator]

    async def delivery(self, message_id: str) -> Delivery:
        async with self.database.sessions() as session:
            row = await session.get(Delivery, message_id)
        assert row is not None
        return row

    async def reports(self) -> list[EventData]:
        async with self.database.sessions() as session:
            rows = await session.scalars(
                select(OutboxEntry)
                .where(OutboxEntry.topic == self.topics.deliveries)
                .order_by(OutboxEntry.id)
            )
            return [parse_event(row.value).data for row in rows]


@pytest.fixture
async def engine(
    database_url: str, mastodon: tuple[MastodonPeer, str], x: tuple[XPeer, str]
) -> AsyncIterator[Engine]:
    database = Database(database_url)
    await database.create_all(Base.metadata)
    async with httpx.AsyncClient(timeout=0.5) as client:
        registry = ChannelRegistry(
            CHANNELS,
            in_transaction={},
            network={
                "masto": MastodonChannel(
                    channel_id="masto",
                    base_url=mastodon[1],
                    access_token=mastodon[0].token,
                    client=client,
                ),
                "x": XChannel(
                    channel_id="x", base_url=x[1], access_token=x[0].token, client=client
                ),
            },
        )
        topics = Topics("planb")
        dispatcher = Dispatcher(
            database,
            registry,
            topics,
            lambda: None,
            policy=RetryPolicy(max_attempts=3, base_seconds=30, max_seconds=60),
            quick_attempts=1,
            quick_max_wait=0,
        )
        handlers = publisher_handlers(
            topics=topics, channels=registry, wake=lambda: None, hand_over=dispatcher.hand_over
        )
        yield Engine(database, dispatcher, handlers, topics)  # type: ignore[arg-type]
    await database.dispose()


def update(message_id: str, text: str, channel_id: str = "masto") -> PublishRequested:
    return PublishRequested(
        message_id=message_id,
        channel_id=channel_id,
        kind=MessageKind.STATUS_UPDATE,
        text=text,
        incident=INCIDENT,
        requested_at=datetime.now(UTC),
    )


def promo(message_id: str, channel_id: str = "masto") -> PublishRequested:
    return PublishRequested(
        message_id=message_id,
        channel_id=channel_id,
        kind=MessageKind.MARKETING,
        text="Half-price weekend tickets!",
        post_id="post-1",
        requested_at=datetime.now(UTC),
    )


async def make_due(engine: Engine, message_id: str) -> None:
    """Move a scheduled retry to now (the schedule is durable: it is just a column)."""
    async with engine.database.transaction() as session:
        row = await session.get(Delivery, message_id)
        assert row is not None
        assert row.next_attempt_at is not None
        row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)


async def test_follow_ups_thread_under_the_first_post_and_a_redelivery_posts_nothing(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    await engine.handle(update("m1", "Trains held at Central. https://status.example/status#i"))
    await engine.handle(update("m2", "Still held; next update by 14:30."))
    await engine.handle(update("m1", "Trains held at Central. https://status.example/status#i"))
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("masto") is None
    first, second = peer.posts
    assert first.reply_to is None
    assert second.reply_to == first.id
    assert (await engine.delivery("m2")).remote_id == second.id
    published = [r for r in await engine.reports() if isinstance(r, DeliveryPublished)]
    assert [r.message_id for r in published] == ["m1", "m2"]


async def test_a_5xx_is_retried_on_the_durable_schedule_then_published(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    peer.fail_next(503)
    await engine.handle(update("m3", "Lifts out of order."))
    assert await engine.dispatcher.dispatch_once("masto") == 0
    row = await engine.delivery("m3")
    assert row.state == "pending"
    assert row.next_attempt_at is not None
    wait = await engine.dispatcher.dispatch_once("masto")
    assert wait is not None
    assert 14 <= wait <= 60
    await make_due(engine, "m3")
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert (await engine.delivery("m3")).state == "published"
    assert len(peer.posts) == 1
    kinds = [type(r).__name__ for r in await engine.reports()]
    assert kinds == ["DeliveryRetrying", "DeliveryPublished"]


async def test_rate_limit_hint_sets_the_next_attempt(engine: Engine, x: tuple[XPeer, str]) -> None:
    peer, _ = x
    advertised_reset = int(time.time() + 45)  # the peer's x-rate-limit-reset, epoch seconds
    peer.rate_limit(45)
    await engine.handle(update("x1", "Trains held.", channel_id="x"))
    await engine.dispatcher.dispatch_once("x")
    (report,) = await engine.reports()
    assert isinstance(report, DeliveryRetrying)
    # the next attempt waits for the advertised reset (not the default backoff), however long
    # the machine took to get here
    assert report.next_attempt_at.timestamp() >= advertised_reset - 1


async def test_a_retry_after_quiets_the_channel_not_only_the_post_it_answered(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    """Retry-After speaks for the platform: a status update, which goes before marketing,
    still waits when it arrives behind a rate-limited marketing post."""
    peer, _ = mastodon
    peer.fail_next(429, headers={"Retry-After": "30"})
    await engine.handle(promo("p5"))
    assert await engine.dispatcher.dispatch_once("masto") == 0
    await engine.handle(update("m11", "Trains held."))
    wait = await engine.dispatcher.dispatch_once("masto")
    assert wait is not None
    assert 20 < wait <= 30
    assert peer.hits("/api/v1/statuses") == 1
    assert (await engine.delivery("m11")).state == "pending"


async def test_a_refusal_fails_at_once_and_retries_give_up(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    await engine.handle(update("m4", "é" * 501))  # over Mastodon's 500
    await engine.dispatcher.dispatch_once("masto")
    row = await engine.delivery("m4")
    assert row.state == "failed"
    assert "500" in (row.error or "")
    peer.fail_next(503, times=3)
    await engine.handle(update("m5", "Lifts out of order."))
    for _ in range(3):
        await engine.dispatcher.dispatch_once("masto")
        if (await engine.delivery("m5")).state == "pending":
            await make_due(engine, "m5")
    row = await engine.delivery("m5")
    assert (row.state, row.attempts) == ("failed", 3)
    assert (row.error or "").startswith("gave up after 3 attempts")
    assert peer.posts == []


async def test_a_pause_holds_marketing_waiting_for_a_retry(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    peer.fail_next(503)
    await engine.handle(promo("p1"))
    await engine.dispatcher.dispatch_once("masto")
    assert (await engine.delivery("p1")).state == "pending"
    await engine.handle(
        ChannelPaused(
            channel_id="masto",
            incident_id=INCIDENT.incident_id,
            reason="sev1",
            paused_at=datetime.now(UTC),
        )
    )
    assert (await engine.delivery("p1")).state == "held"
    await engine.handle(promo("p2"))
    assert (await engine.delivery("p2")).state == "held"
    assert await engine.dispatcher.dispatch_once("masto") is None
    assert peer.posts == []
    held = [r.message_id for r in await engine.reports() if isinstance(r, DeliveryHeld)]
    assert held == ["p1", "p2"]


async def test_a_crash_mid_send_is_resent_only_where_the_platform_dedupes(engine: Engine) -> None:
    await engine.handle(update("m6", "Trains held."))
    await engine.handle(update("x2", "Trains held.", channel_id="x"))
    async with engine.database.transaction() as session:  # what a kill -9 mid-send leaves
        for message_id in ("m6", "x2"):
            row = await session.get(Delivery, message_id)
            assert row is not None
            row.state = "sending"
    assert await engine.dispatcher.recover() == 2
    assert (await engine.delivery("m6")).state == "pending"  # Idempotency-Key: safe to resend
    x_row = await engine.delivery("x2")
    assert x_row.state == "failed"
    assert "could show it twice" in (x_row.error or "")
    failed = [r for r in await engine.reports() if isinstance(r, DeliveryFailed)]
    assert [r.message_id for r in failed] == ["x2"]


async def test_a_slow_platform_does_not_delay_another(
    engine: Engine, mastodon: tuple[MastodonPeer, str], x: tuple[XPeer, str]
) -> None:
    mastodon[0].delay = 2.0  # answers after the client's 0.5 s timeout
    workers = [asyncio.create_task(engine.dispatcher.run_channel(c)) for c in ("masto", "x")]
    try:
        await engine.handle(update("m7", "Trains held."))
        await engine.handle(update("x3", "Trains held.", channel_id="x"))
        engine.dispatcher.wake("masto")
        engine.dispatcher.wake("x")

        async def x_published() -> bool:
            return (await engine.delivery("x3")).state == "published"

        await eventually(x_published, within=10, what="the X post while Mastodon hangs")
        m7 = await engine.delivery("m7")
        assert m7.state in {"sending", "pending"}  # still stuck on the slow platform
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def test_status_updates_go_before_queued_marketing(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    await engine.handle(promo("p3"))
    await engine.handle(update("m8", "Trains held."))
    await engine.dispatcher.dispatch_once("masto")
    await engine.dispatcher.dispatch_once("masto")
    assert [p.text for p in peer.posts] == ["Trains held.", "Half-price weekend tickets!"]


async def test_the_breaker_rests_a_failing_channel(
    mastodon: tuple[MastodonPeer, str], engine: Engine
) -> None:
    peer, _ = mastodon
    dispatcher = Dispatcher(
        engine.database,
        engine.dispatcher.registry,
        engine.topics,
        lambda: None,
        policy=RetryPolicy(max_attempts=10, base_seconds=0),
        quick_attempts=1,
        quick_max_wait=0,
        breaker_threshold=2,
        breaker_cooldown_seconds=300,
    )
    engine.handlers = publisher_handlers(  # this dispatcher is the one handed the updates
        topics=engine.topics,
        channels=dispatcher.registry,
        wake=lambda: None,
        hand_over=dispatcher.hand_over,
    )
    peer.fail_next(503, times=2)
    for n in range(3):
        await engine.handle(update(f"b{n}", f"Update {n}."))
    assert await dispatcher.dispatch_once("masto") == 0
    assert await dispatcher.dispatch_once("masto") == 0
    breaker = dispatcher.breakers["masto"]
    assert breaker.state == "open"
    assert breaker.consecutive_failures == 2
    requests_before = len(peer.requests)
    rest = await dispatcher.dispatch_once("masto")
    assert rest is not None
    assert 290 < rest <= 300  # resting: nothing sent
    assert len(peer.requests) == requests_before
    breaker.opened_at = (breaker.opened_at or 0) - 300  # the cooldown has passed: half-open
    assert breaker.state == "half-open"
    while await dispatcher.dispatch_once("masto") == 0:
        pass
    assert breaker.state == "closed"
    assert [p.text for p in peer.posts] == ["Update 0.", "Update 1.", "Update 2."]


async def test_past_the_deadline_a_delivery_fails_instead_of_retrying(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    peer, _ = mastodon
    await engine.handle(update("m9", "Trains held."))
    async with engine.database.transaction() as session:
        row = await session.get(Delivery, "m9")
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(hours=3)
    peer.fail_next(503)
    await engine.dispatcher.dispatch_once("masto")
    row = await engine.delivery("m9")
    assert row.state == "failed"
    assert (row.error or "").startswith("gave up past the 120-minute deadline")


async def test_a_status_update_on_a_channel_at_rest_is_claimed_as_it_is_queued(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    """Its send waits for no claim transaction of its own; marketing, and anything behind a
    claim already held, waits for the dispatcher."""
    peer, _ = mastodon
    await engine.handle(update("m20", "Trains held."))
    await engine.handle(update("m21", "Still held."))
    await engine.handle(promo("p20", channel_id="x"))
    assert [(await engine.delivery(m)).state for m in ("m20", "m21", "p20")] == [
        "sending",
        "pending",
        "pending",
    ]
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("masto") is None
    first, second = peer.posts
    assert second.reply_to == first.id


# A fetch taken together (services/publisher/intake.py): an approval's status updates are
# queued and claimed in one go where their channels are at rest; anything else record by record.


async def fetch(engine: Engine, *items: EventData | CloudEvent) -> Outcome:
    """Handle `items` as one fetch, the way the publisher's consumer does."""
    handlers = with_requests_together(
        engine.handlers,  # type: ignore[arg-type]
        channels=engine.dispatcher.registry,
        hand_over_fresh=engine.dispatcher.hand_over_fresh,
        waterfall=Waterfall(),
    )
    parsed: Parsed = []
    for n, item in enumerate(items):
        event = item if isinstance(item, CloudEvent) else CloudEvent.wrap(item, source="/tests")
        record = ConsumerRecord(
            "planb.outbound", 0, n, 0, 0, None, event.to_bytes(), None, 0, 0, ()
        )
        parsed.append((record, event))
    outcome = await handle_together(engine.database, handlers, parsed, together=handlers.together)
    assert outcome.failed is None, outcome.failed
    return outcome


async def states(engine: Engine, *message_ids: str) -> list[str]:
    return [(await engine.delivery(m)).state for m in message_ids]


async def test_an_approvals_status_updates_are_claimed_together_and_threaded(
    engine: Engine, mastodon: tuple[MastodonPeer, str], x: tuple[XPeer, str]
) -> None:
    await fetch(engine, update("t1", "Trains held."), update("t2", "Trains held.", "x"))
    assert await states(engine, "t1", "t2") == ["sending", "sending"]
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("x") == 0
    await fetch(engine, update("t3", "Still held."), update("t4", "Still held.", "x"))
    assert await states(engine, "t3", "t4") == ["sending", "sending"]
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("x") == 0
    first, second = mastodon[0].posts
    assert (first.text, second.text, second.reply_to) == ("Trains held.", "Still held.", first.id)
    assert [p.text for p in x[0].posts] == ["Trains held.", "Still held."]
    published = [r for r in await engine.reports() if isinstance(r, DeliveryPublished)]
    assert sorted(r.message_id for r in published) == ["t1", "t2", "t3", "t4"]


async def test_a_channel_with_a_delivery_queued_is_left_to_its_worker(
    engine: Engine, mastodon: tuple[MastodonPeer, str]
) -> None:
    await engine.handle(promo("p1"))
    await fetch(engine, update("t5", "Trains held."), update("t6", "Trains held.", "x"))
    assert await states(engine, "p1", "t5", "t6") == ["pending", "pending", "sending"]
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert await engine.dispatcher.dispatch_once("masto") == 0
    assert [p.text for p in mastodon[0].posts] == ["Trains held.", "Half-price weekend tickets!"]


async def test_a_redelivered_fetch_posts_nothing_more(
    engine: Engine, mastodon: tuple[MastodonPeer, str], x: tuple[XPeer, str]
) -> None:
    """Under new event ids (the inbox does not know them): the rows are found, record by record."""
    requests = (update("t7", "Trains held."), update("t8", "Trains held.", "x"))
    await fetch(engine, *requests)
    assert await engine.dispatcher.dispatch_once("masto") == 0
    await fetch(engine, *requests)
    assert await states(engine, "t7", "t8") == ["published", "sending"]
    assert await engine.dispatcher.dispatch_once("x") == 0
    assert await engine.dispatcher.dispatch_once("masto") is None
    assert await engine.dispatcher.dispatch_once("x") is None
    assert (len(mastodon[0].posts), len(x[0].posts)) == (1, 1)


async def test_a_fetch_with_a_pause_goes_record_by_record(engine: Engine) -> None:
    paused = ChannelPaused(
        channel_id="masto",
        incident_id=INCIDENT.incident_id,
        reason="sev1",
        paused_at=datetime.now(UTC),
    )
    await fetch(engine, paused, promo("p2"), update("t9", "Trains held.", "x"))
    assert await states(engine, "p2", "t9") == ["held", "sending"]
