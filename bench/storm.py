"""An Alertmanager storm (issue 17): 10,000 webhook notifications in 60 s across 1,000 alert
groups (a fifth of all three with --quick), sent open-loop at a steady rate from the load
process: each at its scheduled time whether or not earlier ones were answered.

Every group is notified at least once (the schedule is every group once plus random
repeats, shuffled), and none resolves, so exactly one incident per group must be raised. A
tenth of the groups are `critical` (sev1: every channel paused), the rest `warning` with a
region (sev3: that region's 2 channels). Each notification fires one to three of three
alerts, so many repeat a group's current set (`unchanged`) and some change it (an update).

Figures: every notification answered 202, and by when (in time: the last answer within the
storm's duration plus the 100 ms accept target, since the last is sent just before the end);
accept latency from each one's scheduled time (so a stalled server is not hidden by a
waiting client); incidents raised; per region, its first notification → all its channels
paused; per incident, the 202 that raised it → its last expected `channel paused` record;
incidents lost: not on planb.incidents, or not paused everywhere `SETTLE_S` after the storm
(the router works through its backlog meanwhile; each figure is taken when it arrived).
"""

import asyncio
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from bench.http import FAILURES, Post
from bench.start import running_system
from bench.stats import summarise
from bench.system import ALERTMANAGER_TOKEN, REGIONS, Bench, System, channels
from bench.watch import Watcher

DUMMY_URL = "http://127.0.0.1:9/none"
ALERTS = ("HighLatency", "ErrorRate", "Saturation")
SETTLE_S = 300.0  # how long after the storm a missing pause counts as late, not lost
MAX_IN_FLIGHT = 500  # connections; a request waiting for one is late, and counted so
HEADERS = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}


class Storm:
    def __init__(self, system: System, *, count: int, groups: int, seed: int = 7) -> None:
        self.system = system
        self.random = random.Random(seed)
        self.groups = [
            ("critical" if g % 10 == 0 else "warning", REGIONS[g % len(REGIONS)])
            for g in range(groups)
        ]
        self.schedule = list(range(groups)) + [
            self.random.randrange(groups) for _ in range(count - groups)
        ]
        self.random.shuffle(self.schedule)
        self.statuses: dict[int, int] = {}
        self.outcomes: dict[str, int] = {}
        self.raised: dict[str, tuple[float, int]] = {}  # incident id → (202 time, group)
        self.latencies: list[float] = []
        self.last_answer = 0.0
        self.region_first: dict[str, float] = {}  # region → its first notification's send time

    def payload(self, g: int) -> dict[str, Any]:
        severity, region = self.groups[g]
        names = self.random.sample(ALERTS, self.random.randint(1, 3))
        started = datetime.now(UTC).isoformat()
        labels = {"severity": severity, "region": region}
        return {
            "version": "4",
            "groupKey": f'{{}}:{{group="g{g}"}}',
            "status": "firing",
            "receiver": "planb",
            "groupLabels": {"group": f"g{g}"},
            "commonLabels": labels,
            "commonAnnotations": {"summary": f"Group g{g} degraded in {region}"},
            "externalURL": "http://alertmanager.example",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": name, **labels, "service": "api"},
                    "annotations": {},
                    "startsAt": started,
                    "fingerprint": f"g{g}-{name}",
                }
                for name in names
            ],
        }

    def regions(self, g: int) -> tuple[str, ...]:
        severity, region = self.groups[g]
        return REGIONS if severity == "critical" else (region,)

    async def send(self, post: Post, g: int, due: float) -> None:
        body = self.payload(g)
        for region in self.regions(g):
            self.region_first.setdefault(region, due)
        try:
            status, content = await post("/v1/alerts/alertmanager", body, HEADERS)
        except FAILURES:
            status, content = 0, b""
        done = time.perf_counter()
        self.last_answer = max(self.last_answer, done)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 202:
            return
        self.latencies.append(done - due)
        data = json.loads(content)
        self.outcomes[data["status"]] = self.outcomes.get(data["status"], 0) + 1
        incident_id = data.get("incident_id")
        if incident_id and data["event_id"] and incident_id not in self.raised:
            self.raised[incident_id] = (done, g)

    def expected(self, g: int) -> set[str]:
        wanted = self.regions(g)
        return {c.id for c in self.system.channels if c.region in wanted}


async def run(bench: Bench) -> dict[str, Any]:
    count, duration = (2_000, 12.0) if bench.quick else (10_000, 60.0)
    async with running_system(
        bench, "storm", channels(10, DUMMY_URL), watch=("outbound", "incidents")
    ) as system:
        storm = Storm(system, count=count, groups=count // 10)
        async with system.load("ingest") as post:
            started = await _send_all(bench, storm, post, duration)
        watcher = system.watcher
        assert watcher is not None
        lost = await _settle(bench, storm, watcher)
        return _figures(storm, watcher, started=started, duration=duration, lost=lost)


async def _send_all(bench: Bench, storm: Storm, post: Post, duration: float) -> float:
    """Open loop: notification i is due at start + i·duration/count, sent then (or as soon
    as a connection is free); its latency counts from when it was due."""
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    count = len(storm.schedule)

    async def bounded(g: int, due: float) -> None:
        async with gate:
            await storm.send(post, g, due)

    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for i, g in enumerate(storm.schedule):
        due = started + i * duration / count
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(bounded(g, due)))
        if (i + 1) % (count // 6) == 0:
            bench.progress(
                f"storm: {i + 1}/{count} sent, {storm.statuses.get(202, 0)} answered 202, "
                f"{len(storm.raised)} incidents"
            )
    await asyncio.gather(*tasks)
    return started


async def _settle(bench: Bench, storm: Storm, watcher: Watcher) -> int:
    """Wait (`SETTLE_S` at most) for every raised incident on the topic with all its pauses;
    how many are still missing then."""

    def missing() -> int:
        return sum(
            1
            for i, (_, g) in storm.raised.items()
            if i not in watcher.raised or not storm.expected(g) <= set(watcher.paused.get(i, {}))
        )

    try:
        await watcher.until(
            lambda: missing() == 0, within=SETTLE_S, what="every storm incident paused"
        )
    except TimeoutError as exc:
        bench.progress(f"storm: {exc}")
    return missing()


def _figures(
    storm: Storm, watcher: Watcher, *, started: float, duration: float, lost: int
) -> dict[str, Any]:
    times: list[float] = []
    for incident_id, (accepted, g) in storm.raised.items():
        arrivals = watcher.paused.get(incident_id, {})
        wanted = storm.expected(g)
        if wanted <= set(arrivals):
            times.append(max(arrivals[c] for c in wanted) - accepted)
    region_pause: dict[str, float] = {}
    for region, first in storm.region_first.items():
        ids = {c.id for c in storm.system.channels if c.region == region}
        earliest = {c: min(by.get(c, float("inf")) for by in watcher.paused.values()) for c in ids}
        region_pause[region] = round((max(earliest.values()) - first) * 1000, 1)
    count = len(storm.schedule)
    accepted = storm.statuses.get(202, 0)
    last = storm.last_answer - started
    return {
        "sent": count,
        "duration_s": duration,
        "groups": len(storm.groups),
        "accepted": accepted,
        "rejected": count - accepted,
        "last_answer_s": round(last, 2),
        "all_accepted_in_time": accepted == count and last <= duration + 0.1,
        "statuses": {str(k): v for k, v in sorted(storm.statuses.items())},
        "outcomes": storm.outcomes,
        "incidents_created": len(storm.raised),
        "incidents_on_topic": len(watcher.raised),
        "incidents_lost": lost,
        "settle_s": SETTLE_S,
        "accept": summarise(storm.latencies).as_dict(),
        "region_first_pause_ms": region_pause,
        "time_to_pause": summarise(times).as_dict(),
        "accepted_per_s": round(accepted / max(last, duration), 1),
    }
