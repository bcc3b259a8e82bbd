"""What a subscriber is sent, whatever the medium: an opt-in request or a status update, with
the links it needs. Senders (`subscriber_mail.py`, `subscriber_webhook.py`) turn it into a
mail or a signed POST."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Update:
    """A status update as the status page published it."""

    message_id: str
    incident_id: str
    title: str
    status: str
    text: str
    url: str
    published_at: datetime


@dataclass(frozen=True)
class Note:
    """One message for one subscriber; `key` is its idempotency key (stable across tries).
    `update` is None for the opt-in (the confirmation mail, the webhook's verification ping)."""

    key: str
    subscriber_id: str
    address: str
    page_title: str
    page_url: str
    confirm_url: str
    unsubscribe_url: str
    update: Update | None
    secret: str | None = None  # a webhook's signing secret, chosen by the subscriber


class SubscriberSender(Protocol):
    """Sends a note; raises `RetryableChannelError` for a temporary failure and
    `PermanentChannelError` when the address refuses for good (a bounce)."""

    async def send(self, note: Note) -> None: ...

    async def close(self) -> None: ...
