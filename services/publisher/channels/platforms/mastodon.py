"""Mastodon: `POST /api/v1/statuses` with the account's access token.

Never twice: Mastodon honours the `Idempotency-Key` header (the message id) and answers a
repeat within an hour with the status it already made, so a retry after a timeout is safe
for an hour; after that a retry could post again.
Threads: a follow-up is a reply (`in_reply_to_id`) to the previous post, Mastodon's
convention for a self-thread. Length: graphemes, any URL counting 23 (`mastodon_length`).
Rate limits: 429 with `X-RateLimit-Reset` as an ISO 8601 time (a `Retry-After`, if a proxy
adds one, wins).
"""

import logging
from collections.abc import Mapping
from typing import ClassVar

import httpx

from services.publisher.channels.http_support import (
    check_length,
    json_object,
    optional_json,
    raise_for_status,
    require_env,
    require_url,
    retry_hint,
    seconds_until_iso,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.protocol import OutgoingPost, Posted, RetryableChannelError
from shared.contract.channels import ChannelConfig
from shared.contract.textlength import mastodon_length

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 500


class MastodonChannel:
    """One Mastodon account on one instance."""

    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        channel_id: str,
        base_url: str,
        access_token: str,
        client: httpx.AsyncClient,
        max_length: int = DEFAULT_MAX_LENGTH,
        visibility: str = "public",
    ) -> None:
        self.channel_id = channel_id
        self.base_url = base_url.rstrip("/")
        self.max_length = max_length
        self.visibility = visibility
        self._token = access_token
        self._client = client

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "MastodonChannel":
        """Build from the channels file; the token comes from `credentials_env.access_token`."""
        return cls(
            channel_id=channel.id,
            base_url=require_url(channel),
            access_token=require_env(channel, env, "access_token"),
            client=client,
            max_length=channel.max_chars or DEFAULT_MAX_LENGTH,
        )

    def length(self, text: str) -> int:
        return mastodon_length(text)

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        payload: dict[str, str] = {"status": post.text, "visibility": self.visibility}
        if post.reply_to is not None:
            payload["in_reply_to_id"] = post.reply_to.parent_id
        response = await send(
            self._client,
            "POST",
            f"{self.base_url}/api/v1/statuses",
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json=payload,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Idempotency-Key": post.idempotency_key,
            },
        )
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=str(optional_json(response).get("error") or short_text(response)),
            retry_after=retry_hint(
                response, reset=seconds_until_iso(response.headers.get("X-RateLimit-Reset"))
            ),
        )
        status = json_object(response, channel_id=self.channel_id)
        if "id" not in status:
            raise RetryableChannelError(f"{self.channel_id}: the answer has no status id")
        status_id = str(status["id"])
        logger.info(
            "channel %s: message %s posted as status %s",
            self.channel_id,
            post.idempotency_key,
            status_id,
        )
        return Posted(
            remote_id=status_id,
            url=status.get("url") or status.get("uri"),
            thread=thread_after(post.reply_to, status_id),
        )
