"""Slack: an incoming webhook (`POST {"text": ...}` to a secret URL, answered `ok`).

The webhook URL is the credential: it comes from the environment and is never logged.
Never twice: incoming webhooks take no idempotency key, so a retry after a timeout could
post twice. Threads: a webhook cannot reply in a thread, so each post is its own thread.
Errors are plain text (`invalid_payload`, `no_text`, `no_service`, `channel_is_archived`,
...), which become the reason. Slack's text limit is far above any status update (40,000
characters), counted here in characters.
"""

import logging
from collections.abc import Mapping
from typing import ClassVar

import httpx

from services.publisher.channels.http_support import (
    check_length,
    raise_for_status,
    require_env,
    retry_hint,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.protocol import OutgoingPost, Posted
from shared.contract.channels import ChannelConfig

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 40_000


class SlackChannel:
    """One Slack channel, reached through the incoming webhook installed for it."""

    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        *,
        channel_id: str,
        webhook_url: str,
        client: httpx.AsyncClient,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.channel_id = channel_id
        self.max_length = max_length
        self._webhook_url = webhook_url
        self._client = client

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "SlackChannel":
        """Build from the channels file; the URL comes from `credentials_env.webhook_url`."""
        return cls(
            channel_id=channel.id,
            webhook_url=require_env(channel, env, "webhook_url"),
            client=client,
            max_length=channel.max_chars or DEFAULT_MAX_LENGTH,
        )

    def length(self, text: str) -> int:
        return len(text)

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        response = await send(
            self._client,
            "POST",
            self._webhook_url,
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json={"text": post.text},
        )
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=short_text(response),
            retry_after=retry_hint(response),
        )
        logger.info("channel %s: message %s posted", self.channel_id, post.idempotency_key)
        # Webhooks return no message id; the message id stands in for one.
        remote_id = post.idempotency_key
        return Posted(remote_id=remote_id, url=None, thread=thread_after(None, remote_id))
