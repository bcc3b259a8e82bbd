"""The garbage collector in a long-running service: what start-up built is frozen out of the
collector's way, and a slow collection is logged.

A full collection walks every object the collector tracks, and a service holds ~180k after
start-up (modules, SQLAlchemy's mappers, pydantic's validators, the templates) that live as
long as the process: in an alert storm, each full collection of the router took 110 to 520 ms,
in the middle of the pauses. `gc.freeze()` at the end of start-up moves them to a permanent
generation collections skip; what the service builds afterwards is collected as before.
"""

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SLOW_SECONDS = 0.05
"""A collection longer than this is logged (a warning: it delayed everything in the loop)."""


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left (start-up's objects); how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """At shutdown: what was frozen may be collected again (a test process starts many
    apps, and a frozen one would never be freed)."""
    gc.unfreeze()


class SlowCollections:
    """Logs every collection that takes longer than `SLOW_SECONDS` (`gc.callbacks`)."""

    def __init__(self) -> None:
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        if took > SLOW_SECONDS:
            log.warning(
                "garbage collection of generation %s took %.0f ms (%s collected)",
                info.get("generation"),
                took * 1000,
                info.get("collected"),
            )

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
