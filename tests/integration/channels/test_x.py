"""X adapter against the loopback X API peer over real HTTP."""

from collections.abc import Callable

import httpx
import pytest

from services.publisher.channels.platforms.x import XChannel
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    RetryableChannelError,
)
from services.publisher.channels.retrying import post_with_retries
from shared.devtools.sandbox import Peer, XPeer
from tests.integration.channels.conftest import RecordedSleeps

TWEETS = "/2/tweets"


def channel_for(
    url: str, client: httpx.AsyncClient, token: str = "x-user-access-token"
) -> XChannel:
    return XChannel(channel_id="x", access_token=token, client=client, base_url=url)


async def test_a_thread_of_three_replies_to_the_previous_post(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(x_url, client)

    first = await channel.send(OutgoingPost(text="Check-in systems down.", idempotency_key="x1"))
    second = await channel.send(
        OutgoingPost(text="Manual check-in open.", idempotency_key="x2", reply_to=first.thread)
    )
    await channel.send(
        OutgoingPost(text="Systems restored.", idempotency_key="x3", reply_to=second.thread)
    )

    assert [post.reply_to for post in x_peer.posts] == [None, first.remote_id, second.remote_id]
    assert x_peer.posts[1].payload["reply"] == {"in_reply_to_tweet_id": first.remote_id}
    assert x_peer.posts[0].headers["authorization"] == "Bearer x-user-access-token"
    assert first.url == f"https://x.com/i/web/status/{first.remote_id}"


async def test_429_waits_until_x_rate_limit_reset(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient, sleeps: RecordedSleeps
) -> None:
    channel = channel_for(x_url, client)
    x_peer.rate_limit(5)
    with pytest.raises(RetryableChannelError, match="HTTP 429: Too Many Requests") as limited:
        await channel.send(OutgoingPost(text="limited", idempotency_key="r0"))

    x_peer.rate_limit(5)
    await post_with_retries(
        channel, OutgoingPost(text="Later.", idempotency_key="r1"), sleep=sleeps
    )

    # X names the reset in whole epoch seconds: int(now + 5) is 4 to 5 s away when the peer
    # answers, and a little less by the time the client reads it
    assert 3.5 < (limited.value.retry_after or 0) <= 5
    (slept,) = sleeps
    assert 3.5 < slept <= 5
    assert [post.text for post in x_peer.posts] == ["Later."]


async def test_a_wait_longer_than_max_wait_is_left_to_the_durable_schedule(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient, sleeps: RecordedSleeps
) -> None:
    """Asking again after max_wait would come before X's reset: no quick retry at all."""
    channel = channel_for(x_url, client)
    x_peer.rate_limit(900)

    with pytest.raises(RetryableChannelError, match="HTTP 429") as limited:
        await post_with_retries(
            channel, OutgoingPost(text="Later.", idempotency_key="c1"), max_wait=2.0, sleep=sleeps
        )

    assert limited.value.retry_after == pytest.approx(900, abs=2)
    assert sleeps == []
    assert x_peer.hits(TWEETS) == 1


async def test_duplicate_text_is_permanent_with_xs_reason(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(x_url, client)
    await channel.send(OutgoingPost(text="Same words.", idempotency_key="d1"))

    with pytest.raises(PermanentChannelError, match=r"HTTP 403: .*duplicate content"):
        await post_with_retries(channel, OutgoingPost(text="Same words.", idempotency_key="d2"))

    assert x_peer.hits(TWEETS) == 2
    assert len(x_peer.posts) == 1


async def test_a_bad_token_is_permanent_and_not_retried(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(x_url, client, token="expired")

    with pytest.raises(PermanentChannelError, match="HTTP 401: Unauthorized") as refused:
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="a1"))

    assert refused.value.status == 401
    assert x_peer.hits(TWEETS) == 1


async def test_text_x_weighs_over_its_limit_is_refused_with_xs_message(
    client: httpx.AsyncClient, plug: Callable[[Peer], str]
) -> None:
    peer = XPeer(max_weighted=10)
    url = plug(peer)
    channel = channel_for(url, client)
    with pytest.raises(PermanentChannelError, match="Your Tweet text is too long"):
        await channel.send(OutgoingPost(text="遅延が発生中です", idempotency_key="w1"))

    assert channel.length("遅延が発生中です") == 16
    assert peer.hits(TWEETS) == 1


async def test_weighted_length_is_checked_before_sending(
    x_peer: XPeer, x_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(x_url, client)
    fits = "運休" * 70  # 140 characters of weight 2: exactly 280
    too_long = fits + "!"

    await channel.send(OutgoingPost(text=fits, idempotency_key="k1"))
    with pytest.raises(PermanentChannelError, match=r"is 281 long .* limit is 280"):
        await channel.send(OutgoingPost(text=too_long, idempotency_key="k2"))

    assert [post.text for post in x_peer.posts] == [fits]


async def test_a_slow_answer_is_a_retryable_timeout(
    x_peer: XPeer, x_url: str, impatient_client: httpx.AsyncClient
) -> None:
    channel = channel_for(x_url, impatient_client)
    x_peer.delay = 0.5

    with pytest.raises(RetryableChannelError, match="no answer in time") as slow:
        await channel.send(OutgoingPost(text="Slow.", idempotency_key="s1"))

    assert slow.value.retry_after is None
    assert channel.idempotent is False
