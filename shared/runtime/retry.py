"""One retry policy for the runtime's loops (consumer, dead-lettering, outbox relay, Kafka
connection), on tenacity: an explicit stop, jittered exponential waits, and no wait at all
when the backoff is zero (tests). Channels have their own policy for platforms' answers
(`services/publisher/channels`), since they honour `Retry-After`."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_never,
    wait_none,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)

OnRetry = Callable[[BaseException, float], None]
"""Told of each failure that will be retried: the error, and how long until the next try."""


@dataclass(frozen=True)
class Backoff:
    """Waits drawn at random up to `base_seconds` · 2^(n-1), never over `max_seconds` ("full
    jitter", so replicas that failed together do not come back together); zero never waits."""

    base_seconds: float
    max_seconds: float

    def wait(self) -> wait_base:
        if self.base_seconds <= 0:
            return wait_none()
        return wait_random_exponential(multiplier=self.base_seconds, max=self.max_seconds)


def retrying(
    *,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    never_on: tuple[type[BaseException], ...] = (),
    stop: stop_base | Callable[[RetryCallState], bool] = stop_never,
    on_retry: OnRetry | None = None,
    wakes_on: asyncio.Event | None = None,
) -> AsyncRetrying:
    """A policy to call with `await policy(fn, *args)`: retries what `retry_on` names (but
    never what `never_on` names) until `stop` says enough; then, or for any other error, the
    error is raised as it was. Setting `wakes_on` (a stop request) cuts a wait short, so the
    loop does not sleep out a long backoff before it sees it should stop."""
    sleep = {} if wakes_on is None else {"sleep": partial(wait_for_wakeup, wakes_on)}
    return AsyncRetrying(
        stop=stop,
        wait=backoff.wait(),
        retry=retry_if_exception_type(retry_on) & retry_if_not_exception_type(never_on),
        reraise=True,
        before_sleep=_tell(on_retry) if on_retry is not None else None,
        **sleep,  # type: ignore[arg-type]
    )


def _tell(on_retry: OnRetry) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            on_retry(error, state.upcoming_sleep)

    return before_sleep
