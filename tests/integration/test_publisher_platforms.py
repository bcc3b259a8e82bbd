"""Every platform through the delivery engine: three updates of one incident thread on each,
a timeout after the platform accepted a post makes no duplicate where the platform dedupes,
and a restarted publisher delivers what was pending exactly once."""

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.publisher.channels import ChannelRegistry
from services.publisher.channels.http_channels import build_http_channel
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
from shared.devtools.sandbox import (
    BlueskyPeer,
    MastodonPeer,
    Peer,
    TelegramPeer,
    WebhookPeer,
    XPeer,
    serve,
)
from shared.runtime.database import Database

INCIDENT = IncidentRef(
    incident_id="inc_00000000000000000007",
    title="Lifts out of order",
    severity=Severity.SEV3,
    status=IncidentStatus.INVESTIGATING,
)


@dataclass
class Platform:
    """A peer, how to configure a channel for it, and how it records what a post replies to."""

    make_peer: Callable[[], Peer]
    channel: Callable[[Peer, str], tuple[ChannelConfig, dict[str, str]]]
    parent_of: Callable[[Any], str | None]


def _config(
    type_: ChannelType, url: str | None, **creds: str
) -> tuple[ChannelConfig, dict[str, str]]:
    env = {f"T_{key.upper()}": value for key, value in creds.items()}
    config = ChannelConfig(
        id="chan",
        type=type_,
        name=type_.value,
        url=url,
        credentials_env={key: f"T_{key.upper()}" for key in creds},
    )
    return config, env


PLATFORMS: dict[str, Platform] = {
    "mastodon": Platform(
        MastodonPeer,
        lambda p, url: _config(ChannelType.MASTODON, url, access_token=p.token),  # type: ignore[attr-defined]
        lambda reply: reply,
    ),
    "bluesky": Platform(
        BlueskyPeer,
        lambda p, url: _config(
            ChannelType.BLUESKY,
            url,
            identifier=p.handle,
            app_password=p.password,  # type: ignore[attr-defined]
        ),
        lambda reply: reply["parent"]["uri"] if reply else None,
    ),
    "x": Platform(
        XPeer,
        lambda p, url: _config(ChannelType.X, url, access_token=p.token),  # type: ignore[attr-defined]
        lambda reply: reply,
    ),
    "telegram": Platform(
        TelegramPeer,
        lambda p, url: _config(
            ChannelType.TELEGRAM,
            url,
            bot_token=p.token,
            chat_id="@" + p.channel_username,  # type: ignore[attr-defined]
        ),
        lambda reply: None if reply is None else str(reply),
    ),
    "webhook": Platform(
        WebhookPeer,
        lambda p, url: _config(ChannelType.WEBHOOK, url + p.path, secret=p.secret),  # type: ignore[attr-defined]
        lambda reply: reply["parent_id"] if reply else None,
    ),
}


@dataclass
class Engine:
    database: Database
    handlers: dict[str, Any]
    make_dispatcher: Callable[[], Dispatcher]

    async def request(self, message_id: str, text: str) -> None:
        data = PublishRequested(
            message_id=message_id,
            channel_id="chan",
            kind=MessageKind.STATUS_UPDATE,
            text=text,
            incident=INCIDENT,
            requested_at=datetime.now(UTC),
        )
        event = CloudEvent.wrap(data, source="/tests")
        async with self.database.transaction() as session:
            await self.handlers[event.type](event, session)

    async def states(self) -> dict[str, str]:
        async with self.database.sessions() as session:
            rows = (await session.scalars(select(Delivery))).all()
        return {row.message_id: row.state for row in rows}


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Peer, str, Platform]]:
    platform = PLATFORMS[request.param]
    peer = platform.make_peer()
    with serve(peer.app) as url:
        yield peer, url, platform


@pytest.fixture
async def engine(database_url: str, served: tuple[Peer, str, Platform]) -> AsyncIterator[Engine]:
    peer, url, platform = served
    config, env = platform.channel(peer, url)
    database = Database(database_url)
    await database.create_all(Base.metadata)
    async with httpx.AsyncClient(timeout=0.5) as client:
        registry = ChannelRegistry([config], {}, {"chan": build_http_channel(config, env, client)})
        topics = Topics("planb")

        def make_dispatcher() -> Dispatcher:
            return Dispatcher(
                database,
                registry,
                topics,
                lambda: None,
                policy=RetryPolicy(max_attempts=5, base_seconds=30),
                quick_attempts=2,
                quick_max_wait=0,
            )

        handlers = publisher_handlers(topics=topics, channels=registry, wake=lambda: None)
        yield Engine(database, handlers, make_dispatcher)
    await database.dispose()


async def drain(dispatcher: Dispatcher) -> None:
    while await dispatcher.dispatch_once("chan") == 0:
        pass


@pytest.mark.parametrize("served", list(PLATFORMS), indirect=True)
async def test_three_updates_thread_on_every_platform(
    engine: Engine, served: tuple[Peer, str, Platform]
) -> None:
    peer, _, platform = served
    for n in (1, 2, 3):
        await engine.request(
            f"msg-{n}", f"Update {n}: lifts out of order. https://status.example/s"
        )
    await drain(engine.make_dispatcher())
    assert await engine.states() == {f"msg-{n}": "published" for n in (1, 2, 3)}
    first, second, third = peer.posts
    assert [p.text.split(":")[0] for p in peer.posts] == ["Update 1", "Update 2", "Update 3"]
    assert platform.parent_of(first.reply_to) is None
    assert platform.parent_of(second.reply_to) == first.id
    assert platform.parent_of(third.reply_to) == second.id


@pytest.mark.parametrize("served", ["mastodon", "webhook"], indirect=True)
async def test_a_timeout_after_the_platform_accepted_makes_no_duplicate(
    engine: Engine, served: tuple[Peer, str, Platform]
) -> None:
    peer, _, _ = served
    peer.delay = 1.0  # the platform keeps the post but answers after the 0.5 s timeout
    await engine.request("msg-slow", "Lifts out of order.")
    await drain(engine.make_dispatcher())
    assert (await engine.states())["msg-slow"] == "published"
    assert len(peer.requests) >= 2  # timed out, then tried again with the same key
    assert len(peer.posts) == 1


@pytest.mark.parametrize("served", ["mastodon"], indirect=True)
async def test_a_restarted_publisher_delivers_what_was_pending_once(
    engine: Engine, served: tuple[Peer, str, Platform]
) -> None:
    peer, _, _ = served
    for n in (1, 2, 3):
        await engine.request(f"msg-{n}", f"Update {n}.")
    first_life = engine.make_dispatcher()
    assert await first_life.dispatch_once("chan") == 0  # one out, then the process dies
    async with engine.database.transaction() as session:  # killed while sending the second
        row = await session.get(Delivery, "msg-2")
        assert row is not None
        row.state = "sending"
    second_life = engine.make_dispatcher()
    assert await second_life.recover() == 1
    await drain(second_life)
    await engine.request("msg-2", "Update 2.")  # and the router's request redelivered
    await drain(second_life)
    assert await engine.states() == {f"msg-{n}": "published" for n in (1, 2, 3)}
    assert [p.text for p in peer.posts] == ["Update 1.", "Update 2.", "Update 3."]
