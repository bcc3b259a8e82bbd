"""`post_with_retries` against an in-memory channel that fails as scripted."""

from typing import ClassVar

import pytest

from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    Posted,
    RetryableChannelError,
    ThreadRef,
)
from services.publisher.channels.retrying import post_with_retries

POST = OutgoingPost(text="Status.", idempotency_key="m1")


class ScriptedChannel:
    """Raises the scripted errors in order, then posts."""

    idempotent: ClassVar[bool] = True

    def __init__(self, *errors: Exception) -> None:
        self.channel_id = "scripted"
        self.max_length = 100
        self.errors = list(errors)
        self.calls = 0

    def length(self, text: str) -> int:
        return len(text)

    async def send(self, post: OutgoingPost) -> Posted:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Posted(remote_id="r1", thread=ThreadRef(root_id="r1", parent_id="r1"))


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_retryable_errors_are_retried_after_the_platforms_hint() -> None:
    channel = ScriptedChannel(
        RetryableChannelError("limited", retry_after=2.5),
        RetryableChannelError("limited", retry_after=10),
        RetryableChannelError("down"),
    )
    sleeps = Sleeps()

    posted = await post_with_retries(
        channel, POST, attempts=4, max_wait=10, wait_multiplier=0, sleep=sleeps
    )

    assert posted.remote_id == "r1"
    assert sleeps == [2.5, 10, 0]
    assert channel.calls == 4


async def test_a_hint_longer_than_max_wait_is_left_to_the_durable_schedule() -> None:
    """Trying again after max_wait, sooner than the platform's Retry-After, would break its
    protocol: the error goes back to the caller, whose schedule honours the hint."""
    channel = ScriptedChannel(
        RetryableChannelError("down", retry_after=1),
        RetryableChannelError("limited", retry_after=600),
    )
    sleeps = Sleeps()

    with pytest.raises(RetryableChannelError, match="limited") as raised:
        await post_with_retries(channel, POST, attempts=4, max_wait=10, sleep=sleeps)

    assert raised.value.retry_after == 600
    assert sleeps == [1]
    assert channel.calls == 2


async def test_backoff_without_a_hint_is_jittered_and_bounded() -> None:
    channel = ScriptedChannel(*(RetryableChannelError("down") for _ in range(3)))
    sleeps = Sleeps()

    await post_with_retries(
        channel, POST, attempts=4, max_wait=1.5, wait_multiplier=1, sleep=sleeps
    )

    assert len(sleeps) == 3
    assert all(0 <= wait <= 1.5 for wait in sleeps)


async def test_the_last_error_is_raised_when_attempts_run_out() -> None:
    channel = ScriptedChannel(
        RetryableChannelError("first"), RetryableChannelError("last", retry_after=9)
    )

    with pytest.raises(RetryableChannelError, match="last") as raised:
        await post_with_retries(channel, POST, attempts=2, wait_multiplier=0, sleep=Sleeps())

    assert raised.value.retry_after == 9
    assert channel.calls == 2


@pytest.mark.parametrize(
    "error", [PermanentChannelError("HTTP 401: bad token"), ValueError("an adapter bug")]
)
async def test_anything_but_a_retryable_error_is_raised_at_once(error: Exception) -> None:
    channel = ScriptedChannel(error)

    with pytest.raises(type(error), match=str(error)):
        await post_with_retries(channel, POST, sleep=Sleeps())

    assert channel.calls == 1
