"""In-process retries for one post: a few quick attempts before the durable retry schedule.

Only `RetryableChannelError` is retried. The wait is the platform's own hint when it gave
one (`Retry-After`, `x-rate-limit-reset`, Telegram's `retry_after`), otherwise exponential
backoff with full jitter capped by `max_wait`. A hint longer than `max_wait` ends the quick
attempts at once: asking sooner than the platform allowed would break its protocol, so the
error is raised for the durable schedule, which waits as long as the hint says. After the
last attempt the last error is raised unchanged, so the caller can schedule the next try
from its `retry_after`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from services.publisher.channels.protocol import (
    Channel,
    OutgoingPost,
    Posted,
    RetryableChannelError,
)
from shared.runtime.tracing import resumed

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def _wait_strategy(*, max_wait: float, wait_multiplier: float) -> Callable[[RetryCallState], float]:
    """The platform's hint when the error carries one, else jittered exponential backoff."""
    backoff = wait_random_exponential(multiplier=wait_multiplier, max=max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RetryableChannelError) and error.retry_after is not None:
            return max(error.retry_after, 0.0)  # never over max_wait: see _worth_waiting_for
        return float(backoff(state))

    return wait


def _worth_waiting_for(max_wait: float) -> Callable[[BaseException], bool]:
    """Retry in the call only a retryable error whose hint (if any) is within `max_wait`."""

    def retry(error: BaseException) -> bool:
        if not isinstance(error, RetryableChannelError):
            return False
        return error.retry_after is None or error.retry_after <= max_wait

    return retry


async def post_with_retries(
    channel: Channel,
    post: OutgoingPost,
    *,
    attempts: int = 4,
    max_wait: float = 30.0,
    wait_multiplier: float = 0.5,
    sleep: Sleep = asyncio.sleep,
) -> Posted:
    """`channel.send(post)`, retried on `RetryableChannelError` up to `attempts` times in all,
    unless the platform asked for a longer wait than `max_wait`."""

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "channel %s: attempt %s/%s for message %s failed (%s); retrying in %.2fs",
            channel.channel_id,
            state.attempt_number,
            attempts,
            post.idempotency_key,
            error,
            wait,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_wait_strategy(max_wait=max_wait, wait_multiplier=wait_multiplier),
        retry=retry_if_exception(_worth_waiting_for(max_wait)),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )
    with resumed("post", message_id=post.idempotency_key, channel_id=channel.channel_id):
        return await retrying(channel.send, post)
