"""Every long-running loop of a service, supervised from the outside.

A loop (the outbox relay, a consumer, a dispatcher worker, a periodic job) handles the errors
it expects itself; one that escapes is a bug or a state nobody planned for, and used to be
logged while the loop stayed dead and the process went on saying it was healthy. A
`SupervisedLoop` starts its loop again after a jittered backoff, and gives up after `limit`
crashes within `window_seconds`: then `Supervisor.failures()` names it and why, `/healthz`
fails with that, and Kubernetes (or whoever runs the process) starts a fresh process.

A loop that returns has finished (a consumer told to stop): it is not started again.
"""

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from shared.contract.events import utcnow

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]
"""Makes the loop's coroutine afresh: a crashed coroutine cannot be awaited again."""
Progress = Callable[[], datetime | None]
"""When the loop last finished a round of its work successfully (None: not yet)."""


@dataclass(frozen=True)
class RestartPolicy:
    limit: int = 5
    """Crashes within `window_seconds` that are restarted; one more and the loop has failed."""
    window_seconds: float = 300.0
    base_seconds: float = 1.0
    max_seconds: float = 30.0

    def wait(self, recent_crashes: int) -> float:
        """Full jitter up to base · 2^(n-1), by the crashes in the window (not since start:
        a loop that crashed once a day ago starts again as quickly as a fresh one)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, recent_crashes - 1))
        return random.uniform(0, ceiling)


class SupervisedLoop:
    """One loop: run, restarted on a crash, failed for good after too many."""

    def __init__(
        self,
        name: str,
        factory: LoopFactory,
        *,
        policy: RestartPolicy,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.factory = factory
        self.policy = policy
        self.progress = progress
        self.clock = clock
        self.state = "starting"
        self.restarts = 0
        self.last_crash: str | None = None
        self.last_crash_at: datetime | None = None
        self.failed: str | None = None
        self._crashes: deque[float] = deque()

    async def run(self) -> None:
        """Until the loop returns, is cancelled, or has crashed too often (then `failed`)."""
        restarting = AsyncRetrying(
            retry=retry_if_exception(self._crashed),
            stop=self._too_many,
            wait=lambda _state: self.policy.wait(len(self._crashes)),
            before_sleep=self._restarting,
            reraise=True,
        )
        try:
            await restarting(self._attempt)
        except Exception as exc:
            self.state = "failed"
            self.failed = _describe(exc)
            log.error(
                "loop %s crashed %d times within %.0f s; not restarted again, /healthz fails",
                self.name,
                len(self._crashes),
                self.policy.window_seconds,
                exc_info=exc,
            )
        else:
            self.state = "finished"

    async def _attempt(self) -> None:
        self.state = "running"
        await self.factory()

    def _crashed(self, exc: BaseException) -> bool:
        """Every `Exception` counts (a cancellation does not: that is a shutdown)."""
        if not isinstance(exc, Exception):
            return False
        now = self.clock()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - self.policy.window_seconds:
            self._crashes.popleft()
        self.last_crash = _describe(exc)
        self.last_crash_at = utcnow()
        return True

    def _too_many(self, _state: RetryCallState) -> bool:
        return len(self._crashes) > self.policy.limit

    def _restarting(self, state: RetryCallState) -> None:
        self.state = "restarting"
        self.restarts += 1
        error = state.outcome.exception() if state.outcome is not None else None
        log.error(
            "loop %s crashed; restarting in %.1f s (%d of %d within %.0f s)",
            self.name,
            state.upcoming_sleep,
            len(self._crashes),
            self.policy.limit,
            self.policy.window_seconds,
            exc_info=error,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for /readyz."""
        last_round = self.progress() if self.progress is not None else None
        return {
            "state": self.state,
            "last_round_at": last_round.isoformat() if last_round else None,
            "restarts": self.restarts,
            "last_crash": self.last_crash,
            "last_crash_at": self.last_crash_at.isoformat() if self.last_crash_at else None,
        }


class Supervisor:
    """The service's supervised loops, by name."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.loops: dict[str, SupervisedLoop] = {}

    def start(
        self, name: str, factory: LoopFactory, *, progress: Progress | None = None
    ) -> asyncio.Task[None]:
        loop = SupervisedLoop(name, factory, policy=self.policy, progress=progress)
        self.loops[name] = loop
        return asyncio.create_task(loop.run(), name=name)

    def failures(self) -> dict[str, str]:
        """The loops that crashed too often to be restarted, and why: the process is sick."""
        return {name: loop.failed for name, loop in self.loops.items() if loop.failed}

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: loop.describe() for name, loop in self.loops.items()}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
