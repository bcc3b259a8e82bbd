"""Periodic jobs of the router (marketing scheduler, automatic resume, draft escalation).

A job is an `async` callable doing one round of work in its own transaction(s) and returning
how long to wait before the next round (None: the default interval). A failing round is
logged and tried again later; it never stops the loop, because the work it left is still in
the database.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[float | None]]


class Ticker:
    """Runs one job over and over; `wake()` cuts the current wait short."""

    def __init__(
        self, name: str, job: Job, *, interval: float, wake: asyncio.Event | None = None
    ) -> None:
        self.name = name
        self.job = job
        self.interval = interval
        self._wake = wake or asyncio.Event()
        """Setting this event (`wake()`, or whoever shares it) cuts the current wait short."""

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # a wake during the round below cuts the next wait short
            try:
                delay = await self.job()
            except Exception:
                log.exception("%s: round failed; trying again in %.1f s", self.name, self.interval)
                delay = None
            wait = self.interval if delay is None else max(0.0, min(delay, self.interval))
            await wait_for_wakeup(self._wake, wait)
