"""Fixtures for the channel adapters: each platform's loopback peer as a real HTTP server."""

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.devtools.sandbox import (
    BlueskyPeer,
    MastodonPeer,
    Peer,
    SlackPeer,
    TelegramPeer,
    WebhookPeer,
    XPeer,
    serve,
)


class RecordedSleeps(list[float]):
    """Stands in for `asyncio.sleep` in `post_with_retries`: remembers each wait, waits none."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The one shared client, as the publisher holds it (a test's peer answers in ms)."""
    async with httpx.AsyncClient(timeout=5.0) as shared:
        yield shared


@pytest.fixture
async def impatient_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client that gives up after 0.2 s, to meet a peer told to answer late."""
    async with httpx.AsyncClient(timeout=0.2) as shared:
        yield shared


class Switchboard:
    """One real server for the session; each test plugs its own fresh peer into it.

    Starting and stopping uvicorn costs ~0.2 s, so the peers share one loopback server
    instead of each test starting its own (`serve()` still works for a one-off).
    """

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.target is None:
            await PlainTextResponse("no peer plugged in", 503)(scope, receive, send)
            return
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def switchboard() -> Iterator[tuple[Switchboard, str]]:
    board = Switchboard()
    with serve(board) as base_url:
        yield board, base_url


@pytest.fixture
def plug(switchboard: tuple[Switchboard, str]) -> Iterator[Callable[[Peer], str]]:
    """`plug(peer)` makes `peer` answer at the returned base URL until the test ends."""
    board, base_url = switchboard

    def plug_in(peer: Peer) -> str:
        board.target = peer.app
        return base_url

    yield plug_in
    board.target = None


@pytest.fixture
def mastodon_peer() -> MastodonPeer:
    return MastodonPeer()


@pytest.fixture
def mastodon_url(mastodon_peer: MastodonPeer, plug: Callable[[Peer], str]) -> str:
    return plug(mastodon_peer)


@pytest.fixture
def bluesky_peer() -> BlueskyPeer:
    return BlueskyPeer()


@pytest.fixture
def bluesky_url(bluesky_peer: BlueskyPeer, plug: Callable[[Peer], str]) -> str:
    return plug(bluesky_peer)


@pytest.fixture
def x_peer() -> XPeer:
    return XPeer()


@pytest.fixture
def x_url(x_peer: XPeer, plug: Callable[[Peer], str]) -> str:
    return plug(x_peer)


@pytest.fixture
def telegram_peer() -> TelegramPeer:
    return TelegramPeer()


@pytest.fixture
def telegram_url(telegram_peer: TelegramPeer, plug: Callable[[Peer], str]) -> str:
    return plug(telegram_peer)


@pytest.fixture
def slack_peer() -> SlackPeer:
    return SlackPeer()


@pytest.fixture
def slack_url(slack_peer: SlackPeer, plug: Callable[[Peer], str]) -> str:
    return plug(slack_peer)


@pytest.fixture
def webhook_peer() -> WebhookPeer:
    return WebhookPeer()


@pytest.fixture
def webhook_url(webhook_peer: WebhookPeer, plug: Callable[[Peer], str]) -> str:
    return plug(webhook_peer)
