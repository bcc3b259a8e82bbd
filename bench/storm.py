"""An Alertmanager storm: 10,000 webhook notifications in 60 s (a fifth of both with --quick),
sent open-loop at a steady rate: accepted rate, incidents created, time to pause.

Notifications fall on one of N/20 alert groups; a tenth of the groups are `critical` (sev1:
every channel paused), the rest `warning` with a region (sev3: that region's 2 channels).
Each notification fires one to three of three alerts, so many repeat a group's current set
(`unchanged`) and some change it (an update); 3% resolve their group, whose next firing
raises a new incident. Time to pause is taken from the 202 that raised an incident to the
last of its expected `channel paused` records. Ingest's own Alertmanager rate limit applies.
"""

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.stats import summarise
from bench.system import ALERTMANAGER_TOKEN, REGIONS, Bench, System, channels, running_system

DUMMY_URL = "http://127.0.0.1:9/none"
ALERTS = ("HighLatency", "ErrorRate", "Saturation")
IN_FLIGHT = 200


class Storm:
    def __init__(self, system: System, groups: int, seed: int = 7) -> None:
        self.system = system
        self.random = random.Random(seed)
        self.groups = [
            ("critical" if g % 10 == 0 else "warning", REGIONS[g % len(REGIONS)])
            for g in range(groups)
        ]
        self.statuses: dict[int, int] = {}
        self.outcomes: dict[str, int] = {}
        self.raised: dict[str, tuple[float, int]] = {}  # incident id → (202 time, group)
        self.latencies: list[float] = []

    def payload(self, g: int) -> dict[str, Any]:
        severity, region = self.groups[g]
        resolved = self.random.random() < 0.03
        names = self.random.sample(ALERTS, self.random.randint(1, 3))
        started = datetime.now(UTC).isoformat()
        status = "resolved" if resolved else "firing"
        return {
            "version": "4",
            "groupKey": f'{{}}:{{group="g{g}"}}',
            "status": status,
            "receiver": "planb",
            "groupLabels": {"group": f"g{g}"},
            "commonLabels": {"severity": severity, "region": region},
            "commonAnnotations": {"summary": f"Group g{g} degraded in {region}"},
            "externalURL": "http://alertmanager.example",
            "alerts": [
                {
                    "status": status,
                    "labels": {
                        "alertname": name,
                        "severity": severity,
                        "region": region,
                        "service": "api",
                    },
                    "annotations": {},
                    "startsAt": started,
                    "fingerprint": f"g{g}-{name}",
                }
                for name in names
            ],
        }

    async def send(self, g: int) -> None:
        body = self.payload(g)
        started = time.perf_counter()
        try:
            answer = await self.system.ingest.post(
                "/v1/alerts/alertmanager",
                json=body,
                headers={"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"},
            )
        except httpx.HTTPError:
            self.statuses[0] = self.statuses.get(0, 0) + 1
            return
        done = time.perf_counter()
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        if answer.status_code != 202:
            return
        self.latencies.append(done - started)
        data = answer.json()
        self.outcomes[data["status"]] = self.outcomes.get(data["status"], 0) + 1
        incident_id = data.get("incident_id")
        if incident_id and data["event_id"] and incident_id not in self.raised:
            self.raised[incident_id] = (done, g)

    def expected(self, g: int) -> set[str]:
        severity, region = self.groups[g]
        if severity == "critical":
            return {c.id for c in self.system.channels}
        return {c.id for c in self.system.channels if c.region == region}


async def run(bench: Bench) -> dict[str, Any]:
    count, duration = (2_000, 12.0) if bench.quick else (10_000, 60.0)
    async with running_system(
        bench, "storm", channels(10, DUMMY_URL), watch=("outbound", "incidents")
    ) as system:
        storm = Storm(system, groups=count // 20)
        gate = asyncio.Semaphore(IN_FLIGHT)
        tasks: list[asyncio.Task[None]] = []

        async def bounded(g: int) -> None:
            async with gate:
                await storm.send(g)

        started = time.perf_counter()
        for i in range(count):
            target = started + i * duration / count
            if (delay := target - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(bounded(storm.random.randrange(len(storm.groups)))))
            if (i + 1) % (count // 6) == 0:
                bench.progress(f"storm: {i + 1}/{count} sent, {len(storm.raised)} incidents")
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        watcher = system.watcher
        assert watcher is not None

        def all_paused() -> bool:
            return all(
                storm.expected(g) <= set(watcher.paused.get(i, {}))
                for i, (_, g) in storm.raised.items()
            )

        try:
            await watcher.until(all_paused, within=60, what="every storm incident's pauses")
        except TimeoutError as exc:
            bench.progress(f"storm: {exc}")
        times: list[float] = []
        missing = 0
        for incident_id, (accepted, g) in storm.raised.items():
            arrivals = watcher.paused.get(incident_id, {})
            wanted = storm.expected(g)
            if not wanted <= set(arrivals):
                missing += 1
                continue
            times.append(max(arrivals[c] for c in wanted) - accepted)
        accepted_count = storm.statuses.get(202, 0)
    return {
        "sent": count,
        "duration_s": round(elapsed, 1),
        "accepted": accepted_count,
        "accepted_per_s": round(accepted_count / elapsed, 1),
        "rejected": count - accepted_count,
        "statuses": {str(k): v for k, v in sorted(storm.statuses.items())},
        "outcomes": storm.outcomes,
        "groups": len(storm.groups),
        "incidents_created": len(storm.raised),
        "incidents_on_topic": len(watcher.raised),
        "incidents_without_all_pauses": missing,
        "accept": summarise(storm.latencies).as_dict(),
        "time_to_pause": summarise(times).as_dict(),
    }
