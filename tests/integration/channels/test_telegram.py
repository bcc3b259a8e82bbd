"""Telegram adapter against the loopback Bot API peer over real HTTP."""

from collections.abc import Callable

import httpx
import pytest

from services.publisher.channels.platforms.telegram import TelegramChannel
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    RetryableChannelError,
    ThreadRef,
)
from services.publisher.channels.retrying import post_with_retries
from shared.devtools.sandbox import Peer, TelegramPeer
from tests.integration.channels.conftest import RecordedSleeps

TOKEN = "123456789:AAplanb-loopback-test-token"
SEND = f"/bot{TOKEN}/sendMessage"


def channel_for(
    url: str, client: httpx.AsyncClient, chat_id: str = "@planb_status", token: str = TOKEN
) -> TelegramChannel:
    return TelegramChannel(
        channel_id="tg", bot_token=token, chat_id=chat_id, client=client, base_url=url
    )


async def test_a_thread_of_three_replies_with_reply_parameters(
    telegram_peer: TelegramPeer, telegram_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(telegram_url, client)

    first = await channel.send(OutgoingPost(text="Ferries cancelled.", idempotency_key="t1"))
    second = await channel.send(
        OutgoingPost(text="Next sailing 18:00.", idempotency_key="t2", reply_to=first.thread)
    )
    await channel.send(OutgoingPost(text="Sailing.", idempotency_key="t3", reply_to=second.thread))

    assert [post.reply_to for post in telegram_peer.posts] == [None, 1, 2]
    assert telegram_peer.posts[1].payload["reply_parameters"] == {
        "message_id": 1,
        "allow_sending_without_reply": True,
    }
    assert telegram_peer.posts[0].payload["chat_id"] == "@planb_status"
    assert first.url == "https://t.me/planb_status/1"
    assert second.thread == ThreadRef(root_id="1", parent_id="2")


async def test_a_reply_to_a_deleted_message_still_goes_out(
    telegram_peer: TelegramPeer, telegram_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(telegram_url, client)
    gone = ThreadRef(root_id="41", parent_id="41")

    posted = await channel.send(OutgoingPost(text="Update.", idempotency_key="g1", reply_to=gone))

    assert telegram_peer.posts[0].reply_to is None
    assert posted.thread.root_id == "41"


async def test_429_waits_for_parameters_retry_after(
    telegram_peer: TelegramPeer,
    telegram_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(telegram_url, client)
    telegram_peer.rate_limit(7)
    with pytest.raises(RetryableChannelError, match="Too Many Requests: retry after 7") as flood:
        await channel.send(OutgoingPost(text="flood", idempotency_key="f0"))

    telegram_peer.rate_limit(7)
    await post_with_retries(
        channel, OutgoingPost(text="Later.", idempotency_key="f1"), sleep=sleeps
    )

    assert flood.value.retry_after == 7
    assert sleeps == [7]
    assert [post.text for post in telegram_peer.posts] == ["Later."]


async def test_a_bad_gateway_is_retried(
    telegram_peer: TelegramPeer,
    telegram_url: str,
    client: httpx.AsyncClient,
    sleeps: RecordedSleeps,
) -> None:
    channel = channel_for(telegram_url, client)
    telegram_peer.fail_next(502)

    await post_with_retries(
        channel,
        OutgoingPost(text="Through.", idempotency_key="b1"),
        wait_multiplier=0,
        sleep=sleeps,
    )

    assert telegram_peer.hits(SEND) == 2
    assert [post.text for post in telegram_peer.posts] == ["Through."]


async def test_an_unknown_chat_is_permanent_with_telegrams_description(
    telegram_peer: TelegramPeer, telegram_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(telegram_url, client, chat_id="@nobody_here")

    with pytest.raises(PermanentChannelError, match="HTTP 400: Bad Request: chat not found"):
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="c1"))

    assert telegram_peer.hits(SEND) == 1


async def test_a_wrong_bot_token_is_permanent(
    telegram_peer: TelegramPeer, telegram_url: str, client: httpx.AsyncClient
) -> None:
    channel = channel_for(telegram_url, client, token="999:revoked")

    with pytest.raises(PermanentChannelError, match="HTTP 401: Unauthorized") as refused:
        await channel.send(OutgoingPost(text="x", idempotency_key="u1"))

    assert "999:revoked" not in str(refused.value)


async def test_length_is_utf16_code_units_and_telegrams_refusal_is_permanent(
    client: httpx.AsyncClient, plug: Callable[[Peer], str]
) -> None:
    peer = TelegramPeer(max_length=10)
    url = plug(peer)
    channel = channel_for(url, client)
    with pytest.raises(PermanentChannelError, match="Bad Request: message is too long"):
        await channel.send(OutgoingPost(text="🚆" * 6, idempotency_key="l1"))

    assert channel.length("🚆" * 6) == 12
    assert channel.max_length == 4096
    assert peer.posts == []
