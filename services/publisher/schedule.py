"""The durable retry schedule's arithmetic: when a delivery that met a retryable error is
tried next, and when it has had enough tries."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Each scheduled try comes after ~base·2^(n-1) (full jitter), never sooner than the
    platform asked (`Retry-After`), never later than `max_seconds`."""

    max_attempts: int = 8
    base_seconds: float = 5.0
    max_seconds: float = 900.0
    deadline_seconds: float = 7200.0

    def next_attempt(self, now: datetime, attempts: int, retry_after: float | None) -> datetime:
        backoff = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        wait = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_seconds))
        return now + timedelta(seconds=wait)

    def give_up_reason(self, attempts: int, age_seconds: float) -> str | None:
        """Why to stop retrying, or None: out of attempts, or past the deadline (a status
        update hours late misleads more than it helps)."""
        if attempts >= self.max_attempts:
            return f"after {attempts} attempts"
        if age_seconds >= self.deadline_seconds:
            return (
                f"past the {self.deadline_seconds / 60:.0f}-minute deadline ({attempts} attempts)"
            )
        return None
