"""Median, p99 and max of a list of durations, in milliseconds, the way every figure is told."""

import asyncio
import math
import random
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Summary:
    n: int
    median_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (p99 of 200 samples is the 198th)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(seconds: list[float]) -> Summary:
    """Durations in seconds → median, p99 and max in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return Summary(0, math.nan, math.nan, math.nan)
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return Summary(len(values), median, percentile(values, 0.99), values[-1])


async def jitter(limit: float = 0.05) -> None:
    """A random pause between samples, so they don't fall in step with the consumers' fetch
    cycles (on tansu a waiting fetch returns only after `fetch_max_wait_ms`)."""
    await asyncio.sleep(random.uniform(0, limit))
