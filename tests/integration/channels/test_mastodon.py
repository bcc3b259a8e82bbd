"""Mastodon adapter against the loopback Mastodon peer over real HTTP."""

from collections.abc import Callable

import httpx
import pytest

from services.publisher.channels.platforms.mastodon import MastodonChannel
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    RetryableChannelError,
)
from services.publisher.channels.retrying import post_with_retries
from shared.contract.channels import ChannelConfig, ChannelType
from shared.devtools.sandbox import MastodonPeer, Peer
from tests.integration.channels.conftest import RecordedSleeps

STATUSES = "/api/v1/statuses"


def channel_for(
    url: str, client: httpx.AsyncClient, token: str = "mastodon-test-token"
) -> MastodonChannel:
    return MastodonChannel(
        channel_id="masto", base_url=url, access_token=token, client=client, max_length=500
    )


async def test_a_thread_of_three_replies_to_the_previous_post_each_time(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, client)

    first = await channel.send(OutgoingPost(text="Trains delayed at Leeds.", idempotency_key="m1"))
    second = await channel.send(
        OutgoingPost(text="Update: fault found.", idempotency_key="m2", reply_to=first.thread)
    )
    third = await channel.send(
        OutgoingPost(text="Resolved.", idempotency_key="m3", reply_to=second.thread)
    )

    assert [post.reply_to for post in mastodon_peer.posts] == [
        None,
        first.remote_id,
        second.remote_id,
    ]
    assert third.thread.root_id == first.remote_id
    assert third.thread.parent_id == third.remote_id
    assert first.url == f"{mastodon_url}/@planb/{first.remote_id}"
    sent = mastodon_peer.posts[0]
    assert sent.headers["idempotency-key"] == "m1"
    assert sent.headers["authorization"] == "Bearer mastodon-test-token"
    assert sent.payload["visibility"] == "public"


async def test_a_repeat_with_the_same_key_returns_the_first_status(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, client)
    post = OutgoingPost(text="Signal failure at York.", idempotency_key="same-message")

    first = await channel.send(post)
    again = await channel.send(post)

    assert again.remote_id == first.remote_id
    assert len(mastodon_peer.posts) == 1
    assert mastodon_peer.hits(STATUSES) == 2


async def test_a_timeout_after_the_post_was_accepted_does_not_post_twice(
    mastodon_peer: MastodonPeer, mastodon_url: str, impatient_client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, impatient_client)
    post = OutgoingPost(text="Buses replace trains.", idempotency_key="slow-1")
    mastodon_peer.delay = 0.5

    with pytest.raises(RetryableChannelError, match="no answer in time") as timed_out:
        await channel.send(post)
    mastodon_peer.delay = 0
    posted = await channel.send(post)

    assert timed_out.value.retry_after is None
    assert len(mastodon_peer.posts) == 1
    assert posted.remote_id == mastodon_peer.posts[0].id


async def test_429_carries_the_reset_time_and_is_retried_after_it(
    mastodon_peer: MastodonPeer,
    mastodon_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(mastodon_url, client)
    mastodon_peer.rate_limit(3)
    with pytest.raises(RetryableChannelError, match="HTTP 429: Too many requests") as limited:
        await channel.send(OutgoingPost(text="first try", idempotency_key="r0"))

    mastodon_peer.rate_limit(3)
    posted = await post_with_retries(
        channel, OutgoingPost(text="Retried.", idempotency_key="r1"), sleep=sleeps
    )

    assert limited.value.retry_after == pytest.approx(3, abs=0.5)
    assert sleeps == [pytest.approx(3, abs=0.5)]
    assert posted.remote_id == mastodon_peer.posts[0].id
    assert mastodon_peer.hits(STATUSES) == 3


async def test_503s_are_retried_until_the_instance_recovers(
    mastodon_peer: MastodonPeer,
    mastodon_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(mastodon_url, client)
    mastodon_peer.fail_next(503, times=2)

    await post_with_retries(
        channel,
        OutgoingPost(text="Recovered.", idempotency_key="s1"),
        wait_multiplier=0,
        sleep=sleeps,
    )

    assert sleeps == [0, 0]
    assert mastodon_peer.hits(STATUSES) == 3
    assert [post.text for post in mastodon_peer.posts] == ["Recovered."]


async def test_a_storm_longer_than_the_attempts_raises_the_last_error(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, client)
    mastodon_peer.fail_next(503, times=5)

    with pytest.raises(RetryableChannelError, match="HTTP 503: Service Unavailable"):
        await post_with_retries(
            channel, OutgoingPost(text="x", idempotency_key="s2"), attempts=3, wait_multiplier=0
        )
    assert mastodon_peer.hits(STATUSES) == 3
    assert mastodon_peer.posts == []


async def test_a_bad_token_is_permanent_with_mastodons_reason_and_not_retried(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, client, token="revoked")

    with pytest.raises(PermanentChannelError, match="HTTP 401: The access token is invalid") as bad:
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="a1"))

    assert bad.value.status == 401
    assert mastodon_peer.hits(STATUSES) == 1


async def test_the_instances_own_limit_refusal_is_permanent(
    client: httpx.AsyncClient, plug: Callable[[Peer], str]
) -> None:
    peer = MastodonPeer(max_chars=40)
    url = plug(peer)
    channel = channel_for(url, client)
    with pytest.raises(PermanentChannelError, match="Text character limit of 40 exceeded"):
        await channel.send(OutgoingPost(text="word " * 20, idempotency_key="long"))
    assert peer.hits(STATUSES) == 1


async def test_text_over_the_configured_limit_never_reaches_the_instance(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(mastodon_url, client)
    url_heavy = "See https://status.example.com/" + "a" * 600

    with pytest.raises(PermanentChannelError, match=r"is 501 long .* limit is 500"):
        await channel.send(OutgoingPost(text="é" * 501, idempotency_key="l1"))
    await channel.send(OutgoingPost(text=url_heavy, idempotency_key="l2"))

    assert channel.length(url_heavy) == len("See ") + 23
    assert [post.text for post in mastodon_peer.posts] == [url_heavy]


async def test_from_config_reads_the_token_from_the_named_variable(
    mastodon_peer: MastodonPeer, mastodon_url: str, client: httpx.AsyncClient
) -> None:
    config = ChannelConfig(
        id="masto",
        type=ChannelType.MASTODON,
        name="Mastodon",
        url=mastodon_url,
        max_chars=1000,
        credentials_env={"access_token": "PLANB_TEST_MASTODON_TOKEN"},
    )
    channel = MastodonChannel.from_config(
        config, {"PLANB_TEST_MASTODON_TOKEN": "mastodon-test-token"}, client
    )

    await channel.send(OutgoingPost(text="From config.", idempotency_key="c1"))

    assert channel.max_length == 1000
    assert [post.text for post in mastodon_peer.posts] == ["From config."]
    with pytest.raises(ValueError, match="PLANB_TEST_MASTODON_TOKEN"):
        MastodonChannel.from_config(config, {}, client)
