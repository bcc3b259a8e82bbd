"""A periodic job: one round of work run every N seconds, a failing round logged, not fatal.

The mechanism only; which jobs the router runs is `services/router/jobs.py`. A round is an
`async` callable doing its work in its own transaction(s) and returning how long to wait
before the next round (None: the job's interval). A failing round is logged and tried again
later; it never stops the loop, because the work it left is still in the database.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from shared.contract.events import utcnow
from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)

Round = Callable[[], Awaitable[float | None]]


class PeriodicJob:
    """Runs one round after another, `interval` seconds apart; `wake()` cuts the wait short."""

    def __init__(
        self, name: str, job: Round, *, interval: float, wake: asyncio.Event | None = None
    ) -> None:
        self.name = name
        self.job = job
        self.interval = interval
        self._wake = wake or asyncio.Event()
        """Setting this event (`wake()`, or whoever shares it) cuts the current wait short."""
        self.last_round_at: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def last_round(self) -> datetime | None:
        """When a round last succeeded (/readyz)."""
        return self.last_round_at

    async def run(self) -> None:
        while True:
            self._wake.clear()  # a wake during the round below cuts the next wait short
            try:
                delay = await self.job()
                self.last_round_at = utcnow()
            except Exception:
                log.exception("%s: round failed; trying again in %.1f s", self.name, self.interval)
                delay = None
            wait = self.interval if delay is None else max(0.0, min(delay, self.interval))
            await wait_for_wakeup(self._wake, wait)
