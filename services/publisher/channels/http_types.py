"""What a network channel (Mastodon, Bluesky, X, Telegram, Slack, webhook) promises.

Independent of the database: the delivery engine turns a stored delivery into an
`OutgoingPost`, calls `HttpChannel.post`, and stores the `Posted` it gets back (its
`thread` is what the next follow-up on that channel replies to).

Errors a post may end with:

    PermanentChannelError   the platform refused the post (a 4xx other than 408/429, or a
                            text over the limit): retrying cannot help, the delivery is dead
    RetryableChannelError   429, 5xx, a timeout or a transport error: try again, after
                            `retry_after` seconds when the platform said how long

Anything else is a bug in the adapter and should surface as one.
"""

from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field


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


class Posted(BaseModel):
    """Where the post landed, and the ref a later follow-up should reply to."""

    model_config = ConfigDict(frozen=True)
    remote_id: str
    url: str | None = None
    thread: ThreadRef


class PermanentChannelError(Exception):
    """The platform refused the post for a reason a retry cannot fix; the text says why."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableChannelError(Exception):
    """The post may succeed later; `retry_after` is the platform's hint in seconds, if any."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class HttpChannel(Protocol):
    """A platform adapter; one instance per configured channel, sharing one httpx client."""

    channel_id: str
    max_length: int
    # True when a retry after a timeout cannot post twice (the platform dedupes on our key).
    idempotent: ClassVar[bool]

    def length(self, text: str) -> int:
        """How long `text` is as this platform counts it (compare with `max_length`)."""
        ...

    async def post(self, post: OutgoingPost) -> Posted:
        """Publish `post`, or raise `PermanentChannelError` / `RetryableChannelError`."""
        ...
