"""What every HTTP adapter does the same way: send, classify the answer, read retry hints.

Kept apart from the adapters so each platform module shows only what is particular to it.
"""

import email.utils
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx

from services.publisher.channels.protocol import (
    PermanentChannelError,
    RetryableChannelError,
    ThreadRef,
)
from shared.contract.channels import ChannelConfig

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Measured(Protocol):
    """A platform channel that counts text length its own way (see `check_length`)."""

    channel_id: str
    max_length: int

    def length(self, text: str) -> int:
        """How long `text` is as this platform counts it (compare with `max_length`)."""
        ...


def require_env(channel: ChannelConfig, env: Mapping[str, str], key: str) -> str:
    """The credential `key` of `channel`, read from the variable its `credentials_env` names."""
    variable = channel.credentials_env.get(key)
    if variable is None:
        raise ValueError(
            f"channel {channel.id!r} ({channel.type.value}) needs credentials_env.{key}: "
            f"the name of the environment variable that holds it"
        )
    value = env.get(variable, "")
    if not value.strip():
        raise ValueError(
            f"channel {channel.id!r}: environment variable {variable} "
            f"(credentials_env.{key}) is not set"
        )
    return value


def require_url(channel: ChannelConfig, default: str | None = None) -> str:
    """The channel's base URL from the file, or the platform's public default."""
    url = channel.url or default
    if not url:
        raise ValueError(f"channel {channel.id!r} ({channel.type.value}) needs a url")
    return url.rstrip("/")


def seconds_from_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: either delay-seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def seconds_until_epoch(value: str | None, *, now: float | None = None) -> float | None:
    """A reset header in epoch seconds (X's `x-rate-limit-reset`, atproto's `ratelimit-reset`)."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return max(0.0, reset - (time.time() if now is None else now))


def seconds_until_iso(value: str | None, *, now: float | None = None) -> float | None:
    """A reset header holding an ISO 8601 time (Mastodon's `X-RateLimit-Reset`)."""
    if value is None:
        return None
    try:
        reset = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if reset.tzinfo is None:
        return None
    return max(0.0, reset.timestamp() - (time.time() if now is None else now))


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    channel_id: str,
    message_id: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request; timeouts and transport failures become `RetryableChannelError`."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx.UnsupportedProtocol as exc:
        # Not the URL itself: for Telegram and Slack it holds the credential.
        raise PermanentChannelError(f"{channel_id}: the channel URL is not http(s)") from exc
    except httpx.TimeoutException as exc:
        logger.warning(
            "channel %s: %s for message %s", channel_id, exc.__class__.__name__, message_id
        )
        raise RetryableChannelError(
            f"{channel_id}: no answer in time ({exc.__class__.__name__}); "
            "the platform may or may not have taken the post"
        ) from exc
    except httpx.TransportError as exc:
        logger.warning(
            "channel %s: transport error for message %s: %s", channel_id, message_id, exc
        )
        raise RetryableChannelError(
            f"{channel_id}: transport error: {exc.__class__.__name__}: {exc}"
        ) from exc


def raise_for_status(
    response: httpx.Response, *, channel_id: str, reason: str, retry_after: float | None = None
) -> None:
    """Nothing for 2xx; retryable for 408, 425, 429 and 5xx; permanent for anything else."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{channel_id}: HTTP {status}: {reason or response.reason_phrase}"
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableChannelError(message, retry_after=retry_after, status=status)
    raise PermanentChannelError(message, status=status)


def json_object(response: httpx.Response, *, channel_id: str) -> dict[str, Any]:
    """The JSON object in a success answer; an unreadable one is worth another try."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RetryableChannelError(
            f"{channel_id}: HTTP {response.status_code} but the answer is not JSON"
        ) from exc
    if not isinstance(body, dict):
        raise RetryableChannelError(f"{channel_id}: HTTP {response.status_code}: unexpected answer")
    return body


def optional_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in an answer, or {} when it has none (error bodies vary)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def short_text(response: httpx.Response, limit: int = 300) -> str:
    """An error answer's text, trimmed for a log line or a reason."""
    return response.text.strip()[:limit]


def check_length(channel: Measured, text: str) -> None:
    """Refuse a text the platform would refuse, without spending a request on it."""
    if not text.strip():
        raise PermanentChannelError(f"{channel.channel_id}: the text is empty")
    length = channel.length(text)
    if length > channel.max_length:
        raise PermanentChannelError(
            f"{channel.channel_id}: the text is {length} long as the platform counts it; "
            f"the limit is {channel.max_length}"
        )


def thread_after(reply_to: ThreadRef | None, remote_id: str, cid: str | None = None) -> ThreadRef:
    """The ref a later follow-up uses: the same root, this post as the parent."""
    if reply_to is None:
        return ThreadRef(root_id=remote_id, parent_id=remote_id, root_cid=cid, parent_cid=cid)
    return ThreadRef(
        root_id=reply_to.root_id, root_cid=reply_to.root_cid, parent_id=remote_id, parent_cid=cid
    )


def retry_hint(response: httpx.Response, *, reset: float | None = None) -> float | None:
    """`Retry-After` when the answer has one, else (for a 429 only) the platform's reset time."""
    after = seconds_from_retry_after(response.headers.get("Retry-After"))
    if after is not None:
        return after
    return reset if response.status_code == 429 else None
