"""Approve → published: a duty manager's approval (the POST) → a `published` report on
planb.deliveries for every channel, the peers answering after a fixed delay.

Ingest, router and publisher run; 10 webhook channels on a loopback peer
(shared/devtools/sandbox) that accepts each post, then answers `PEER_DELAY` later. The second
variant sends one channel to a peer that answers far beyond the publisher's channel timeout:
the other channels' figures should not move.

"Published" ends when the bench's own consumer (the watcher, with the services' fetch wait)
reads the channel's `published` report on planb.deliveries: the publisher's settle, its outbox
relay and one more fetch wait are on the path; the router's recording of it is not.

The waterfall: every stage the services time (shared/runtime/waterfall.py), as seconds since
the approval, so the slow stage shows: median, p99 and mean over the measured approvals from
the services' /metrics histograms (either mode; to within a 5 ms bucket), and exactly
in-process (listeners on the apps); then the report's arrival at the bench, each channel.
"""

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.draft import draft_of
from bench.start import running_system
from bench.stats import jitter, summarise
from bench.system import Bench, System, channels, peers
from shared.runtime.waterfall import STAGES

PEER_DELAY = 0.05
SLOW_PEER_DELAY = 30.0
CHANNEL_TIMEOUT = 1.0  # the publisher's CHANNEL_TIMEOUT_SECONDS for the bench (default 10)
CHANNELS = 10


async def run(bench: Bench, *, one_times_out: bool = False) -> dict[str, Any]:
    samples = bench.samples(200, 50)
    label = "publish, one timing out" if one_times_out else "publish"
    slow_id = f"c{CHANNELS - 1:05d}"
    with peers(PEER_DELAY, SLOW_PEER_DELAY if one_times_out else None) as (fast, slow):
        chosen = channels(CHANNELS, fast, slow={slow_id: slow} if slow else None)
        async with running_system(
            bench,
            "publish",
            chosen,
            services=("ingest", "router", "publisher"),
            watch=("deliveries",),
            publisher={"channel_timeout_seconds": CHANNEL_TIMEOUT},
        ) as system:
            skip = {slow_id} if one_times_out else set()
            await _one(system, skip)  # warm-up
            stages: dict[str, list[float]] = defaultdict(list)
            for app in system.apps.values():  # in-process only; processes: their /metrics
                if hasattr(app.state, "waterfall"):
                    app.state.waterfall.listeners.append(
                        lambda stage, seconds: stages[stage].append(seconds)
                    )
            before = await _stage_histograms(system)
            per_approval: list[float] = []
            per_channel: list[float] = []
            for i in range(samples):
                approved, arrivals = await _one(system, skip)
                per_approval.append(max(arrivals) - approved)
                per_channel.extend(t - approved for t in arrivals)
                if (i + 1) % max(1, samples // 4) == 0:
                    median = summarise(per_approval).median_ms
                    bench.progress(f"{label}: {i + 1}/{samples}, p50 {median:.1f} ms")
            from_metrics = stage_figures(before, await _stage_histograms(system))
    return {
        "every_channel": summarise(per_approval).as_dict(),
        "each_channel": summarise(per_channel).as_dict(),
        "channels": CHANNELS - len(skip),
        "peer_delay_ms": PEER_DELAY * 1000,
        "timing_out_channel": slow_id if one_times_out else None,
        "channel_timeout_s": CHANNEL_TIMEOUT,
        "stages": {
            stage: summarise(stages[stage]).as_dict() for stage in STAGES if stages.get(stage)
        },
        "stages_from_metrics": from_metrics,
        "stage_means_ms": {stage: figure["mean_ms"] for stage, figure in from_metrics.items()},
    }


@dataclass
class StageHistogram:
    """One stage's histogram as /metrics tells it: count, sum, cumulative count by bound."""

    count: float = 0.0
    total: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    def since(self, before: "StageHistogram") -> "StageHistogram":
        return StageHistogram(
            self.count - before.count,
            self.total - before.total,
            {le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()},
        )

    def quantile(self, fraction: float) -> float:
        """Seconds, interpolated within its bucket (as Prometheus' histogram_quantile)."""
        rank, lower, below = fraction * self.count, 0.0, 0.0
        for le, cumulative in sorted(self.buckets.items()):
            if cumulative >= rank and cumulative > below:
                if math.isinf(le):
                    return lower
                return lower + (le - lower) * (rank - below) / (cumulative - below)
            lower, below = le, cumulative
        return lower

    def upper_bound(self) -> float:
        """The bound of the highest bucket holding an observation: the max, to a bucket."""
        top = min((le for le, n in self.buckets.items() if n >= self.count), default=math.nan)
        return top if not math.isinf(top) else max(le for le in self.buckets if le < top)

    def summary(self) -> dict[str, Any]:
        return {
            "n": int(self.count),
            "median_ms": round(1000 * self.quantile(0.5), 3),
            "p99_ms": round(1000 * self.quantile(0.99), 3),
            "max_ms": round(1000 * self.upper_bound(), 3),
            "mean_ms": round(1000 * self.total / self.count, 3),
        }


async def _stage_histograms(system: System) -> dict[str, StageHistogram]:
    """Each stage's histogram on the router's and publisher's /metrics: how the waterfall is
    read when they run as processes (no listener reaches them)."""
    found: dict[str, StageHistogram] = defaultdict(StageHistogram)
    for service in ("router", "publisher"):
        parse_stages((await system.clients[service].get("/metrics")).text, into=found)
    return found


def parse_stages(text: str, *, into: dict[str, StageHistogram]) -> None:
    """Add the stage histograms of one /metrics page to `into` (a defaultdict)."""
    for family in text_string_to_metric_families(text):
        if family.name != "planb_publish_stage_seconds":
            continue
        for sample in family.samples:
            histogram = into[sample.labels["stage"]]
            if sample.name.endswith("_count"):
                histogram.count += sample.value
            elif sample.name.endswith("_sum"):
                histogram.total += sample.value
            elif sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                histogram.buckets[le] = histogram.buckets.get(le, 0.0) + sample.value


def stage_figures(
    before: dict[str, StageHistogram], after: dict[str, StageHistogram]
) -> dict[str, dict[str, Any]]:
    """Each stage's median, p99, max (to a bucket) and mean in ms since approval over the
    measured approvals, in path order."""
    figures = {}
    for stage in STAGES:
        if stage in after:
            measured = after[stage].since(before.get(stage, StageHistogram()))
            if measured.count > 0:
                figures[stage] = measured.summary()
    return figures


async def _one(system: System, skip: set[str]) -> tuple[float, list[float]]:
    """Raise (sev3, no regions: nothing paused), wait for the draft, approve it; returns the
    approval's start and every expected channel's `published` arrival."""
    incident_id, _ = await system.raise_incident("sev3")
    draft = await draft_of(system, incident_id)
    expected = {t["channel_id"] for t in draft["texts"]} - skip
    await jitter()
    approved = time.perf_counter()
    answer = await system.router.post(
        f"/v1/drafts/{draft['id']}/approve", headers=system.auth("duty_manager")
    )
    if answer.status_code != 200:
        raise RuntimeError(f"approve answered {answer.status_code}: {answer.text}")
    watcher = system.watcher
    assert watcher is not None
    await watcher.until(
        lambda: expected <= set(watcher.published.get(incident_id, {})),
        within=120,
        what=f"published on {len(expected)} channels for {incident_id}",
    )
    published = watcher.published[incident_id]
    return approved, [published[c] for c in expected]
