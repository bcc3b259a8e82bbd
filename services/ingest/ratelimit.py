"""Per-token rate limiting: a token bucket per caller, in this process's memory.

A runaway script or a retry storm from one caller must not drown everyone else's incidents;
each replica limits on its own, which is enough for that purpose.
"""

import math
import time
from dataclasses import dataclass, field

from shared.web.problems import Problem


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def check(self, caller: str) -> None:
        """Take one token for `caller`, or raise a 429 problem saying when to come back."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(caller, _Bucket(tokens=self.burst, updated=now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait = max(1, math.ceil((1 - bucket.tokens) / self.rate)) if self.rate > 0 else 60
        raise Problem(
            429,
            "Too Many Requests",
            f"Rate limit of {self.rate * 60:.0f} requests per minute reached; retry in {wait}s.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
