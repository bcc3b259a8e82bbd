"""The one thing every channel promises, the built-in status page and each platform alike:

    posted = await channel.send(post)   # an `OutgoingPost` in, a `Posted` out

Where a channel runs is the registry's business, not the protocol's: the status page writes
in the delivery's own transaction (the registry binds it to that session), network channels
post over HTTP outside any transaction, driven by the dispatcher. A `Posted` carries the
`thread` the next follow-up on that channel replies to (None where nothing threads).

Errors a send may end with:

    ChannelError                the message did not go out on this channel; the text says why
    ├── PermanentChannelError   refused for a reason a retry cannot fix (a 4xx other than
    │                           408/425/429, a text over the limit, a channel that cannot take
    │                           this message): the delivery is `failed`
    └── RetryableChannelError   429, 5xx, a timeout or a transport error: try again, after
                                `retry_after` seconds when the platform said how long

Anything else is a bug in the adapter (or the infrastructure's problem) and surfaces as one.
"""

import re
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import IncidentRef, PublishRequested, PublishRequestedV2

URL = re.compile(r"https?://\S+")


class ThreadRef(BaseModel):
    """What a follow-up replies to; Bluesky needs the content ids (cid) as well as the ids."""

    model_config = ConfigDict(frozen=True)
    root_id: str = Field(min_length=1)
    parent_id: str = Field(min_length=1)
    root_cid: str | None = None
    parent_cid: str | None = None


class OutgoingPost(BaseModel):
    """One message for one channel; `idempotency_key` is the message id, stable across retries."""

    model_config = ConfigDict(frozen=True)
    text: str
    idempotency_key: str = Field(min_length=1, max_length=200)
    reply_to: ThreadRef | None = None
    link: str | None = None
    incident: IncidentRef | None = None  # what the status page files the entry under
    language: str | None = None  # the status page's: which language's page shows it

    @classmethod
    def of(cls, message: PublishRequested, reply_to: ThreadRef | None = None) -> "OutgoingPost":
        """The post for `message`; its first URL is the link a platform may preview."""
        return cls(
            text=message.text,
            idempotency_key=message.message_id,
            reply_to=reply_to,
            link=_first_url(message.text),
            incident=message.incident,
            language=(
                message.languages[0]
                if isinstance(message, PublishRequestedV2) and message.languages
                else None
            ),
        )


class Posted(BaseModel):
    """Where the post landed, and the ref a later follow-up should reply to."""

    model_config = ConfigDict(frozen=True)
    remote_id: str
    url: str | None = None
    thread: ThreadRef | None = None


class ChannelError(Exception):
    """The message did not go out on this channel; the text says why."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PermanentChannelError(ChannelError):
    """Refused for a reason a retry cannot fix; the delivery fails."""


class RetryableChannelError(ChannelError):
    """The post may succeed later; `retry_after` is the platform's hint in seconds, if any."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Channel(Protocol):
    """One configured channel's adapter."""

    channel_id: str
    # True when a retry after a timeout cannot post twice (the channel dedupes on our key).
    idempotent: ClassVar[bool]

    async def send(self, post: OutgoingPost) -> Posted:
        """Publish `post`, or raise a `ChannelError` saying why not."""
        ...


def _first_url(text: str) -> str | None:
    match = URL.search(text)
    return match.group(0).rstrip(".,;:!?)") if match else None
