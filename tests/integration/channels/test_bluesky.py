"""Bluesky adapter against the loopback PDS peer over real HTTP."""

from collections.abc import Callable

import httpx
import pytest

from services.publisher.channels.platforms.atproto import record_key_for
from services.publisher.channels.platforms.bluesky import BlueskyChannel
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    RetryableChannelError,
)
from services.publisher.channels.retrying import post_with_retries
from shared.devtools.sandbox import BlueskyPeer, Peer
from tests.integration.channels.conftest import RecordedSleeps

CREATE = "/xrpc/com.atproto.repo.createRecord"
SESSION = "/xrpc/com.atproto.server.createSession"


def channel_for(
    url: str, client: httpx.AsyncClient, password: str = "abcd-efgh-ijkl-mnop"
) -> BlueskyChannel:
    return BlueskyChannel(
        channel_id="bsky",
        identifier="planb.bsky.test",
        app_password=password,
        client=client,
        base_url=url,
    )


async def test_a_thread_of_three_names_the_root_and_the_parent_with_uri_and_cid(
    bluesky_peer: BlueskyPeer, bluesky_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, client)

    first = await channel.send(OutgoingPost(text="Lines closed.", idempotency_key="b1"))
    second = await channel.send(
        OutgoingPost(text="Engineers on site.", idempotency_key="b2", reply_to=first.thread)
    )
    await channel.send(OutgoingPost(text="Reopened.", idempotency_key="b3", reply_to=second.thread))

    root = {"uri": first.remote_id, "cid": first.thread.root_cid}
    assert first.remote_id == f"at://{bluesky_peer.did}/app.bsky.feed.post/{record_key_for('b1')}"
    assert first.thread.root_cid == bluesky_peer.records[record_key_for("b1")]["cid"]
    assert [post.reply_to for post in bluesky_peer.posts] == [
        None,
        {"root": root, "parent": root},
        {"root": root, "parent": {"uri": second.remote_id, "cid": second.thread.parent_cid}},
    ]
    assert first.url == f"https://bsky.app/profile/{bluesky_peer.did}/post/{record_key_for('b1')}"
    assert bluesky_peer.sessions_created == 1


async def test_an_expired_token_is_refreshed_and_the_post_tried_once_more(
    bluesky_peer: BlueskyPeer, bluesky_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, client)
    await channel.send(OutgoingPost(text="Before expiry.", idempotency_key="e1"))
    bluesky_peer.expire_tokens()

    await channel.send(OutgoingPost(text="After expiry.", idempotency_key="e2"))

    assert bluesky_peer.refreshes == 1
    assert bluesky_peer.sessions_created == 1
    assert bluesky_peer.hits(CREATE) == 3
    assert [post.text for post in bluesky_peer.posts] == ["Before expiry.", "After expiry."]


async def test_a_refused_refresh_falls_back_to_a_new_session(
    bluesky_peer: BlueskyPeer, bluesky_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, client)
    await channel.send(OutgoingPost(text="One.", idempotency_key="f1"))
    bluesky_peer.expire_tokens()
    bluesky_peer.revoke_refresh_tokens()

    await channel.send(OutgoingPost(text="Two.", idempotency_key="f2"))

    assert bluesky_peer.sessions_created == 2
    assert bluesky_peer.refreshes == 0
    assert [post.text for post in bluesky_peer.posts] == ["One.", "Two."]


async def test_link_facets_index_utf8_bytes_after_accents_and_emoji(
    bluesky_peer: BlueskyPeer, bluesky_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, client)
    link = "https://status.example.com/incidents/42"
    prefix = "Café ☕ — trains délayés 🚆, details: "
    text = f"{prefix}{link} (updates hourly)"

    await channel.send(OutgoingPost(text=text, idempotency_key="l1", link=link))

    sent = bluesky_peer.posts[0]
    facet = sent.payload["record"]["facets"][0]
    assert facet["index"] == {
        "byteStart": len(prefix.encode()),
        "byteEnd": len(prefix.encode()) + len(link),
    }
    assert facet["index"]["byteStart"] != len(prefix)
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": link}]
    assert bluesky_peer.linked_text(sent) == [link]


async def test_a_retry_after_a_timeout_returns_the_record_already_made(
    bluesky_peer: BlueskyPeer, bluesky_url: str, impatient_client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, impatient_client)
    post = OutgoingPost(text="Accepted, answered late.", idempotency_key="t1")
    await channel.send(OutgoingPost(text="Warm the session.", idempotency_key="t0"))
    bluesky_peer.delay = 0.5

    with pytest.raises(RetryableChannelError, match="no answer in time"):
        await channel.send(post)
    bluesky_peer.delay = 0
    posted = await channel.send(post)

    assert [p.text for p in bluesky_peer.posts] == ["Warm the session.", post.text]
    assert posted.remote_id == bluesky_peer.posts[1].id
    assert posted.thread.root_cid == bluesky_peer.records[record_key_for("t1")]["cid"]


async def test_a_wrong_app_password_is_permanent_and_not_retried(
    bluesky_peer: BlueskyPeer, bluesky_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(bluesky_url, client, password="wrong")

    with pytest.raises(
        PermanentChannelError, match="AuthenticationRequired: Invalid identifier or password"
    ):
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="w1"))

    assert bluesky_peer.hits(SESSION) == 1
    assert bluesky_peer.hits(CREATE) == 0


async def test_429_waits_until_ratelimit_reset(
    bluesky_peer: BlueskyPeer,
    bluesky_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(bluesky_url, client)
    await channel.send(OutgoingPost(text="Warm the session.", idempotency_key="q0"))
    bluesky_peer.rate_limit(4)

    await post_with_retries(
        channel, OutgoingPost(text="Later.", idempotency_key="q1"), sleep=sleeps
    )

    assert sleeps == [pytest.approx(4, abs=1)]
    assert bluesky_peer.hits(CREATE) == 3
    assert [post.text for post in bluesky_peer.posts] == ["Warm the session.", "Later."]


async def test_a_5xx_is_retried_and_posts_once(
    bluesky_peer: BlueskyPeer,
    bluesky_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(bluesky_url, client)
    await channel.send(OutgoingPost(text="Warm the session.", idempotency_key="u0"))
    bluesky_peer.fail_next(502, times=2)

    await post_with_retries(
        channel,
        OutgoingPost(text="Through.", idempotency_key="u1"),
        wait_multiplier=0,
        sleep=sleeps,
    )

    assert sleeps == [0, 0]
    assert [post.text for post in bluesky_peer.posts] == ["Warm the session.", "Through."]


async def test_the_pds_grapheme_limit_refusal_is_permanent(
    client: httpx.AsyncClient, plug: Callable[[Peer], str]
) -> None:
    peer = BlueskyPeer(max_graphemes=20)
    url = plug(peer)
    channel = channel_for(url, client)
    with pytest.raises(
        PermanentChannelError, match="must not be longer than 20 graphemes"
    ) as refused:
        await channel.send(OutgoingPost(text="🇬🇧" * 21, idempotency_key="g1"))

    assert refused.value.status == 400
    assert channel.length("🇬🇧" * 21) == 21
    assert peer.posts == []
