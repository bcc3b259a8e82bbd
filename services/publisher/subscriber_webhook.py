"""Subscribers' webhooks: signed exactly like the webhook channel
(`shared/contract/webhook_signature.py`: `X-PlanB-Timestamp`, `X-PlanB-Signature`, and an
`Idempotency-Key` to dedupe on), with the secret the subscriber chose when subscribing.

The first request is a verification ping::

    {"type": "planb.subscription.verify", "subscriber_id": "...", "challenge": "...",
     "unsubscribe_url": "..."}

answered 2xx with `{"challenge": "<the same>"}`; only then is the subscription active. Then
one request per status update::

    {"type": "planb.status.update", "subscriber_id": "...", "message_id": "...",
     "incident_id": "...", "title": "...", "status": "...", "text": "...", "url": "...",
     "published_at": "...", "unsubscribe_url": "..."}

2xx accepts; 408, 425, 429 and 5xx are retried (`Retry-After` honoured); another 4xx refuses
for good and the subscription is marked refused (`bounced`).
"""

import json
import time
from typing import Any

import httpx

from services.publisher.channels.http_support import (
    optional_json,
    raise_for_status,
    retry_hint,
    send,
    short_text,
)
from services.publisher.channels.protocol import PermanentChannelError
from services.publisher.subscriber_notes import Note
from services.publisher.subscriptions import link_token
from shared.contract.webhook_signature import sign

CHANNEL = "subscriber-webhook"


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, note: Note) -> None:
        if note.secret is None:
            raise PermanentChannelError(f"{CHANNEL}: the subscription has no secret")
        secret = note.secret
        challenge = link_token(secret, "verify", note.key)
        body = json.dumps(payload(note, challenge=challenge), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        response = await send(
            self.client,
            "POST",
            note.address,
            channel_id=CHANNEL,
            message_id=note.key,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": note.key,
                "X-PlanB-Timestamp": timestamp,
                "X-PlanB-Signature": sign(secret, timestamp, body),
            },
        )
        raise_for_status(
            response,
            channel_id=CHANNEL,
            reason=short_text(response),
            retry_after=retry_hint(response),
        )
        if note.update is None and optional_json(response).get("challenge") != challenge:
            raise PermanentChannelError(f"{CHANNEL}: the verification ping was not answered")

    async def close(self) -> None:
        return None


def payload(note: Note, *, challenge: str) -> dict[str, Any]:
    if note.update is None:
        return {
            "type": "planb.subscription.verify",
            "subscriber_id": note.subscriber_id,
            "challenge": challenge,
            "unsubscribe_url": note.unsubscribe_url,
        }
    update = note.update
    return {
        "type": "planb.status.update",
        "subscriber_id": note.subscriber_id,
        "message_id": update.message_id,
        "incident_id": update.incident_id,
        "title": update.title,
        "status": update.status,
        "text": update.text,
        "url": update.url,
        "published_at": update.published_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "unsubscribe_url": note.unsubscribe_url,
    }
