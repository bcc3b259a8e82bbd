"""Generic webhook: Plan B POSTs each status message as signed JSON to a URL you run.

What a receiver gets::

    POST <channel url>
    Content-Type: application/json
    Idempotency-Key: <message id>          (the same on every retry of one message)
    X-PlanB-Timestamp: 1767225600          (unix seconds when this attempt was signed)
    X-PlanB-Signature: sha256=<hex>

    {"message_id": "...", "channel_id": "...", "text": "...",
     "reply_to": null | {"root_id": "<first message id>", "parent_id": "<previous id>"},
     "sent_at": "2026-01-01T00:00:00Z"}

How a receiver verifies it (`shared.contract.webhook_signature.verify_signature` does exactly
this):

1. Take the raw request body as bytes, before any JSON parsing.
2. Compute HMAC-SHA256 with the shared secret over `f"{timestamp}.".encode() + body`,
   where `timestamp` is the `X-PlanB-Timestamp` header; hex-encode it.
3. Compare `"sha256=" + hex` with `X-PlanB-Signature` in constant time
   (`hmac.compare_digest`), and refuse a timestamp more than 5 minutes from your clock,
   so a captured request cannot be replayed later.
4. Deduplicate on `Idempotency-Key`: a retry after a timeout sends the same message again.

Answer any 2xx to accept (a JSON `{"id": ...}` names your record, else the message id is
used); 429 or 5xx to be retried (a `Retry-After` is honoured); any other 4xx refuses the
message for good, with the body as the reason.
"""

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from services.publisher.channels.http_support import (
    check_length,
    optional_json,
    raise_for_status,
    require_env,
    require_url,
    retry_hint,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.protocol import OutgoingPost, Posted
from shared.contract.channels import ChannelConfig
from shared.contract.webhook_signature import sign

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 100_000


class WebhookChannel:
    """One receiver URL with its shared secret."""

    # Receivers are asked to dedupe on Idempotency-Key; only as safe as the receiver.
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        channel_id: str,
        url: str,
        secret: str,
        client: httpx.AsyncClient,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.channel_id = channel_id
        self.url = url
        self.max_length = max_length
        self._secret = secret
        self._client = client

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "WebhookChannel":
        """Build from the channels file: its `url`, and `credentials_env.secret`."""
        return cls(
            channel_id=channel.id,
            url=require_url(channel),
            secret=require_env(channel, env, "secret"),
            client=client,
            max_length=channel.max_chars or DEFAULT_MAX_LENGTH,
        )

    def length(self, text: str) -> int:
        return len(text)

    def payload(self, post: OutgoingPost, sent_at: datetime) -> dict[str, Any]:
        """The JSON document a receiver gets (documented above)."""
        reply_to = None
        if post.reply_to is not None:
            reply_to = {"root_id": post.reply_to.root_id, "parent_id": post.reply_to.parent_id}
        return {
            "message_id": post.idempotency_key,
            "channel_id": self.channel_id,
            "text": post.text,
            "reply_to": reply_to,
            "sent_at": sent_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        now = time.time()
        body = json.dumps(
            self.payload(post, datetime.fromtimestamp(now, UTC)), ensure_ascii=False
        ).encode()
        timestamp = str(int(now))
        response = await send(
            self._client,
            "POST",
            self.url,
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": post.idempotency_key,
                "X-PlanB-Timestamp": timestamp,
                "X-PlanB-Signature": sign(self._secret, timestamp, body),
            },
        )
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=short_text(response),
            retry_after=retry_hint(response),
        )
        named = optional_json(response).get("id")
        remote_id = str(named) if named else post.idempotency_key
        logger.info(
            "channel %s: message %s delivered as %s",
            self.channel_id,
            post.idempotency_key,
            remote_id,
        )
        return Posted(remote_id=remote_id, url=None, thread=thread_after(post.reply_to, remote_id))
