"""A circuit breaker per channel, so a platform that is down is not hammered.

After `threshold` consecutive retryable failures the breaker opens: the channel's worker
sends nothing for `cooldown_seconds`, then lets one delivery through (half-open); success
closes it, another failure opens it again. Kept in memory: it only spares the platform, the
durable retry schedule is what keeps deliveries.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from shared.contract.events import utcnow


@dataclass
class Breaker:
    threshold: int = 5
    cooldown_seconds: float = 60.0
    consecutive_failures: int = 0
    opened_at: float | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self.wait_seconds() > 0 else "half-open"

    def wait_seconds(self) -> float:
        """How long the channel must stay quiet; 0 when a send may go out."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_seconds - time.monotonic())

    def succeeded(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.last_success_at = utcnow()

    def failed(self, error: str) -> None:
        self.consecutive_failures += 1
        self.last_failure_at = utcnow()
        self.last_error = error
        if self.consecutive_failures >= self.threshold:
            self.opened_at = time.monotonic()
