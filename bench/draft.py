"""Time to draft: incident accepted (ingest's 202) → its draft listed by GET /v1/drafts on the
router API (polled every 2 ms; 10 channels, sev2, one incident at a time)."""

import asyncio
import time
from typing import Any

from bench.start import running_system
from bench.stats import jitter, summarise
from bench.system import Bench, System, channels

DUMMY_URL = "http://127.0.0.1:9/none"


async def run(bench: Bench) -> dict[str, Any]:
    samples = bench.samples(300, 200)
    async with running_system(bench, "draft", channels(10, DUMMY_URL)) as system:
        await _one(system)  # warm-up
        times: list[float] = []
        for i in range(samples):
            times.append(await _one(system))
            if (i + 1) % max(1, samples // 4) == 0:
                median = summarise(times).median_ms
                bench.progress(f"draft: {i + 1}/{samples}, p50 {median:.1f} ms")
    return {"visible": summarise(times).as_dict(), "channels": 10, "poll_interval_ms": 2}


async def draft_of(system: System, incident_id: str, within: float = 60) -> dict[str, Any]:
    """Poll the router's API until the incident's draft is listed; the draft."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = await system.router.get(
            "/v1/drafts", params={"incident_id": incident_id}, headers=system.auth("duty_manager")
        )
        drafts = answer.json()
        if answer.status_code == 200 and drafts:
            return dict(drafts[0])
        await asyncio.sleep(0.002)
    raise TimeoutError(f"no draft for {incident_id} after {within}s")


async def _one(system: System) -> float:
    await jitter()
    incident_id, accepted = await system.raise_incident("sev2")
    await draft_of(system, incident_id)
    return time.perf_counter() - accepted
