"""Slack incoming-webhook and signed-webhook adapters against their loopback peers."""

import json

import httpx
import pytest

from services.publisher.channels.platforms.slack import SlackChannel
from services.publisher.channels.platforms.webhook import WebhookChannel
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    ThreadRef,
)
from services.publisher.channels.retrying import post_with_retries
from shared.contract.webhook_signature import verify_signature
from shared.devtools.sandbox import SlackPeer, WebhookPeer
from tests.integration.channels.conftest import RecordedSleeps

SLACK_PATH = "/services/T0PLANB00/B0PLANB00/planbLoopbackSecret"


def slack_for(url: str, client: httpx.AsyncClient, path: str = SLACK_PATH) -> SlackChannel:
    return SlackChannel(channel_id="ops-slack", webhook_url=f"{url}{path}", client=client)


def webhook_for(
    url: str, client: httpx.AsyncClient, secret: str = "webhook-shared-secret"
) -> WebhookChannel:
    return WebhookChannel(
        channel_id="partner-hook", url=f"{url}/hooks/planb", secret=secret, client=client
    )


async def test_slack_posts_the_text_and_each_post_is_its_own_thread(
    slack_peer: SlackPeer, slack_url: str, client: httpx.AsyncClient
) -> None:
    channel = slack_for(slack_url, client)

    posted = await channel.send(OutgoingPost(text="Payments degraded.", idempotency_key="s1"))

    assert slack_peer.posts[0].payload == {"text": "Payments degraded."}
    assert posted.remote_id == "s1"
    assert posted.thread == ThreadRef(root_id="s1", parent_id="s1")


async def test_slack_429_honours_retry_after(
    slack_peer: SlackPeer, slack_url: str, client: httpx.AsyncClient, sleeps: RecordedSleeps
) -> None:
    channel = slack_for(slack_url, client)
    slack_peer.rate_limit(2)
    slack_peer.fail_next(500)

    await post_with_retries(
        channel,
        OutgoingPost(text="Eventually.", idempotency_key="s2"),
        wait_multiplier=0,
        sleep=sleeps,
    )

    assert sleeps == [2, 0]
    assert [post.text for post in slack_peer.posts] == ["Eventually."]


@pytest.mark.parametrize(
    ("path", "archived", "reason"),
    [
        ("/services/T0PLANB00/B0PLANB00/revoked", False, "HTTP 404: no_service"),
        (SLACK_PATH, True, "HTTP 410: channel_is_archived"),
    ],
)
async def test_slack_refusals_are_permanent_with_slacks_error_text(
    slack_peer: SlackPeer,
    slack_url: str,
    client: httpx.AsyncClient,
    path: str,
    archived: bool,
    reason: str,
) -> None:
    if archived:
        slack_peer.archive()
    channel = slack_for(slack_url, client, path)

    with pytest.raises(PermanentChannelError, match=reason):
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="s3"))

    assert len(slack_peer.requests) == 1


async def test_webhook_signature_verifies_with_the_secret_and_only_with_it(
    webhook_peer: WebhookPeer, webhook_url: str, client: httpx.AsyncClient
) -> None:
    channel = webhook_for(webhook_url, client)

    posted = await channel.send(OutgoingPost(text="Outage in eu-west.", idempotency_key="w1"))

    seen = webhook_peer.requests[0]
    timestamp, signature = seen.headers["x-planb-timestamp"], seen.headers["x-planb-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(
        "webhook-shared-secret", timestamp=timestamp, body=seen.body, signature=signature
    )
    assert not verify_signature(
        "another-secret", timestamp=timestamp, body=seen.body, signature=signature
    )
    assert not verify_signature(
        "webhook-shared-secret", timestamp=timestamp, body=seen.body + b" ", signature=signature
    )
    assert not verify_signature(
        "webhook-shared-secret",
        timestamp=timestamp,
        body=seen.body,
        signature=signature,
        now=int(timestamp) + 301,
    )
    assert json.loads(seen.body) == {
        "message_id": "w1",
        "channel_id": "partner-hook",
        "text": "Outage in eu-west.",
        "reply_to": None,
        "sent_at": json.loads(seen.body)["sent_at"],
    }
    assert seen.headers["idempotency-key"] == "w1"
    assert posted.remote_id == "evt_1"


async def test_webhook_follow_up_names_root_and_parent_and_repeats_are_deduped(
    webhook_peer: WebhookPeer, webhook_url: str, client: httpx.AsyncClient
) -> None:
    channel = webhook_for(webhook_url, client)
    first = await channel.send(OutgoingPost(text="Investigating.", idempotency_key="w2"))
    follow_up = OutgoingPost(text="Fixed.", idempotency_key="w3", reply_to=first.thread)

    posted = await channel.send(follow_up)
    again = await channel.send(follow_up)

    assert webhook_peer.posts[1].reply_to == {"root_id": "evt_1", "parent_id": "evt_1"}
    assert again.remote_id == posted.remote_id == "evt_2"
    assert len(webhook_peer.posts) == 2


async def test_webhook_with_the_wrong_secret_is_refused_for_good(
    webhook_peer: WebhookPeer, webhook_url: str, client: httpx.AsyncClient
) -> None:
    channel = webhook_for(webhook_url, client, secret="rotated-elsewhere")

    with pytest.raises(PermanentChannelError, match="HTTP 401: invalid signature"):
        await post_with_retries(channel, OutgoingPost(text="x", idempotency_key="w4"))

    assert len(webhook_peer.requests) == 1
    assert webhook_peer.posts == []


async def test_webhook_503_is_retried(
    webhook_peer: WebhookPeer, webhook_url: str, client: httpx.AsyncClient, sleeps: RecordedSleeps
) -> None:
    channel = webhook_for(webhook_url, client)
    webhook_peer.fail_next(503, headers={"Retry-After": "1"})

    await post_with_retries(channel, OutgoingPost(text="Once.", idempotency_key="w5"), sleep=sleeps)

    assert sleeps == [1]
    assert [post.text for post in webhook_peer.posts] == ["Once."]
