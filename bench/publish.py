"""Approve → published: a duty manager's approval (the POST) → a `published` report on
planb.deliveries for every channel, the peers answering after a fixed delay.

Ingest, router and publisher run; 10 webhook channels on a loopback peer
(shared/devtools/sandbox) that accepts each post, then answers `PEER_DELAY` later. The second
variant sends one channel to a peer that answers far beyond the publisher's channel timeout:
the other channels' figures should not move.

The waterfall: every stage the services time (shared/runtime/waterfall.py), as seconds since
the approval, so the slow stage shows: its mean over the measured approvals from the
services' /metrics (either mode), and median and p99 in-process (listeners on the apps).
"""

import time
from collections import defaultdict
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
            before = await _stage_totals(system)
            per_approval: list[float] = []
            per_channel: list[float] = []
            for i in range(samples):
                approved, arrivals = await _one(system, skip)
                per_approval.append(max(arrivals) - approved)
                per_channel.extend(t - approved for t in arrivals)
                if (i + 1) % max(1, samples // 4) == 0:
                    median = summarise(per_approval).median_ms
                    bench.progress(f"{label}: {i + 1}/{samples}, p50 {median:.1f} ms")
            means = _means(before, await _stage_totals(system))
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
        "stage_means_ms": means,
    }


async def _stage_totals(system: System) -> dict[str, tuple[float, float]]:
    """(count, sum) of each stage's histogram on the router's and publisher's /metrics:
    how the waterfall is read when they run as processes (no listener reaches them)."""
    totals: dict[str, tuple[float, float]] = {}
    for service in ("router", "publisher"):
        text = (await system.clients[service].get("/metrics")).text
        for family in text_string_to_metric_families(text):
            if family.name != "planb_publish_stage_seconds":
                continue
            for sample in family.samples:
                count, total = totals.get(sample.labels["stage"], (0.0, 0.0))
                if sample.name.endswith("_count"):
                    count += sample.value
                elif sample.name.endswith("_sum"):
                    total += sample.value
                totals[sample.labels["stage"]] = (count, total)
    return totals


def _means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Each stage's mean (ms since approval) over the measured approvals, in path order."""
    means = {}
    for stage in STAGES:
        count, total = after.get(stage, (0.0, 0.0))
        count0, total0 = before.get(stage, (0.0, 0.0))
        if count > count0:
            means[stage] = round(1000 * (total - total0) / (count - count0), 1)
    return means


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
