"""The waterfall read back from /metrics (services as processes): each stage's median and
p99 to within its 5 ms bucket, counted over the measured approvals only."""

from collections import defaultdict
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest

from bench.publish import StageHistogram, parse_stages, stage_figures
from shared.contract.events import utcnow
from shared.runtime.waterfall import Waterfall


def _read(registry: CollectorRegistry) -> dict[str, StageHistogram]:
    found: dict[str, StageHistogram] = defaultdict(StageHistogram)
    parse_stages(generate_latest(registry).decode(), into=found)
    return found


def test_median_and_p99_come_back_within_a_bucket_and_exclude_the_warm_up() -> None:
    registry = CollectorRegistry()
    waterfall = Waterfall(registry)
    approved = utcnow()
    waterfall.mark("settled", approved, at=approved + timedelta(seconds=2))  # the warm-up
    before = _read(registry)
    for ms in range(1, 101):  # 1 … 100 ms, once each
        waterfall.mark("settled", approved, at=approved + timedelta(milliseconds=ms))
    figure = stage_figures(before, _read(registry))["settled"]
    assert figure["n"] == 100
    assert abs(figure["median_ms"] - 50) <= 5
    assert abs(figure["p99_ms"] - 99) <= 5
    assert figure["max_ms"] == 100
    assert abs(figure["mean_ms"] - 50.5) < 0.01
