"""The one retry policy of the runtime's loops: what it retries, when it stops, how it waits."""

import pytest
from tenacity import stop_after_attempt

from shared.runtime.retry import Backoff, retrying


class Flaky:
    """Fails with the given errors in turn, then answers "done"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_retries_what_it_names_until_it_succeeds_telling_each_wait() -> None:
    waits: list[float] = []
    policy = retrying(
        backoff=Backoff(0, 0),
        retry_on=(OSError,),
        on_retry=lambda exc, wait: waits.append(wait),
    )
    flaky = Flaky(OSError("down"), ConnectionError("still down"))
    assert await policy(flaky) == "done"
    assert flaky.calls == 3
    assert waits == [0, 0]  # a zero backoff never waits (tests)


async def test_an_error_it_does_not_name_is_raised_at_once() -> None:
    flaky = Flaky(ValueError("bad record"))
    with pytest.raises(ValueError, match="bad record"):
        await retrying(backoff=Backoff(0, 0), retry_on=(OSError,))(flaky)
    assert flaky.calls == 1


async def test_never_on_wins_over_retry_on() -> None:
    class Permanent(Exception):
        pass

    flaky = Flaky(Permanent("never"))
    policy = retrying(backoff=Backoff(0, 0), retry_on=(Exception,), never_on=(Permanent,))
    with pytest.raises(Permanent, match="never"):
        await policy(flaky)
    assert flaky.calls == 1


async def test_an_explicit_stop_raises_the_last_error_as_it_was() -> None:
    flaky = Flaky(*[OSError(f"try {n}") for n in range(1, 6)])
    policy = retrying(backoff=Backoff(0, 0), retry_on=(OSError,), stop=stop_after_attempt(3))
    with pytest.raises(OSError, match="try 3"):
        await policy(flaky)
    assert flaky.calls == 3


def test_waits_are_jittered_and_grow_exponentially_up_to_the_cap() -> None:
    wait = Backoff(base_seconds=0.5, max_seconds=3.0).wait()

    class State:
        def __init__(self, attempt: int) -> None:
            self.attempt_number = attempt

    draws = {n: [wait(State(n)) for _ in range(200)] for n in (1, 2, 3, 6)}  # type: ignore[arg-type]
    assert all(0 <= d <= 0.5 for d in draws[1])
    assert all(0 <= d <= 1.0 for d in draws[2])
    assert all(0 <= d <= 2.0 for d in draws[3])
    assert all(0 <= d <= 3.0 for d in draws[6])
    assert len({round(d, 6) for d in draws[6]}) > 100  # jittered: not one fixed wait
    assert max(draws[6]) > 2.0  # and it reaches past the earlier caps
