"""X: `POST /2/tweets` with an OAuth 2.0 user access token (scope `tweet.write`).

Never twice: X takes no idempotency key, so a retry after a timeout could post twice. X
refuses a second post with the same text (403 "duplicate content"), which stops the
duplicate but does not say the first post's id; the adapter reports it as permanent with
that reason, for a person to check.
Threads: a follow-up replies (`reply.in_reply_to_tweet_id`) to the previous post.
Length: twitter-text v3 weighted length, limit 280 (`x_weighted_length`).
Rate limits: 429 with `x-rate-limit-reset` in epoch seconds (or the 24-hour user/app limit's
reset when that is the one exhausted); the wait is until then.
"""

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from services.publisher.channels.http_support import (
    check_length,
    json_object,
    optional_json,
    raise_for_status,
    require_env,
    require_url,
    retry_hint,
    seconds_until_epoch,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.protocol import OutgoingPost, Posted, RetryableChannelError
from shared.contract.channels import ChannelConfig
from shared.contract.textlength import X_MAX_WEIGHTED_LENGTH, x_weighted_length

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.x.com"
_LIMIT_HEADERS = (
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("x-user-limit-24hour-remaining", "x-user-limit-24hour-reset"),
    ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"),
)


def seconds_until_reset(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds until the exhausted limit resets (the latest, if several are at zero)."""
    exhausted = [
        wait
        for remaining, reset in _LIMIT_HEADERS
        if headers.get(remaining) == "0"
        and (wait := seconds_until_epoch(headers.get(reset), now=now)) is not None
    ]
    if exhausted:
        return max(exhausted)
    return seconds_until_epoch(headers.get("x-rate-limit-reset"), now=now)


def _reason(response: httpx.Response) -> str:
    """X's errors are RFC 7807-like: `errors[].message`, else `detail`, else `title`."""
    body = optional_json(response)
    errors = body.get("errors")
    if isinstance(errors, list):
        messages = [str(e["message"]) for e in errors if isinstance(e, dict) and "message" in e]
        if messages:
            return "; ".join(messages)
    return str(body.get("detail") or body.get("title") or short_text(response))


class XChannel:
    """One X account."""

    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        *,
        channel_id: str,
        access_token: str,
        client: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        max_length: int = X_MAX_WEIGHTED_LENGTH,
        web_url: str = "https://x.com",
    ) -> None:
        self.channel_id = channel_id
        self.base_url = base_url.rstrip("/")
        self.max_length = max_length
        self.web_url = web_url.rstrip("/")
        self._token = access_token
        self._client = client

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "XChannel":
        """Build from the channels file; the token comes from `credentials_env.access_token`."""
        return cls(
            channel_id=channel.id,
            access_token=require_env(channel, env, "access_token"),
            client=client,
            base_url=require_url(channel, DEFAULT_BASE_URL),
            max_length=channel.max_chars or X_MAX_WEIGHTED_LENGTH,
        )

    def length(self, text: str) -> int:
        return x_weighted_length(text)

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        payload: dict[str, Any] = {"text": post.text}
        if post.reply_to is not None:
            payload["reply"] = {"in_reply_to_tweet_id": post.reply_to.parent_id}
        response = await send(
            self._client,
            "POST",
            f"{self.base_url}/2/tweets",
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json=payload,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=_reason(response),
            retry_after=retry_hint(response, reset=seconds_until_reset(response.headers)),
        )
        data = json_object(response, channel_id=self.channel_id).get("data")
        if not isinstance(data, dict) or "id" not in data:
            raise RetryableChannelError(f"{self.channel_id}: the answer has no post id")
        post_id = str(data["id"])
        logger.info(
            "channel %s: message %s posted as %s", self.channel_id, post.idempotency_key, post_id
        )
        return Posted(
            remote_id=post_id,
            url=f"{self.web_url}/i/web/status/{post_id}",
            thread=thread_after(post.reply_to, post_id),
        )
