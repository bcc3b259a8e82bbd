"""The readiness checks of a service's loops: each consumer (its partitions, its lag, its last
round) and every supervised loop (its state, its last successful round, its crashes).

A loop in trouble makes a service degraded, not unavailable: the router's console and the
publisher's status page are served from the database whatever a loop is doing. A loop that
cannot be restarted fails `/healthz` instead (`Supervisor.failures`), which restarts the
process.
"""

from typing import Any

from shared.runtime.consumer import EventConsumer
from shared.runtime.health import ReadinessCheck
from shared.runtime.supervision import SupervisedLoop, Supervisor

TROUBLED = ("restarting", "failed")


def consumer_check(consumer: EventConsumer, loop: SupervisedLoop) -> ReadinessCheck:
    async def check() -> tuple[bool, Any]:
        stats = consumer.stats
        last_round = stats.last_round_at
        detail = consumer.describe() | {
            "lag": stats.lag(),
            "last_round_at": last_round.isoformat() if last_round else None,
            "loop": loop.state,
        }
        if loop.state in TROUBLED:
            detail["status"] = f"degraded: the consumer loop is {loop.state} ({loop.last_crash})"
        return True, detail

    return check


def loops_check(supervisor: Supervisor) -> ReadinessCheck:
    async def check() -> tuple[bool, Any]:
        loops = supervisor.describe()
        troubled = sorted(name for name, loop in loops.items() if loop["state"] in TROUBLED)
        status = f"degraded: {', '.join(troubled)} crashed" if troubled else "running"
        return True, {"status": status, "loops": loops}

    return check
