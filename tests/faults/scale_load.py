"""The people in tests/faults/test_scale_out.py: marketing fills the calendar, operations
raise incidents (and follow some up), a duty manager approves every draft through whichever
router answers. They talk to the services' HTTP APIs only, as the real ones would."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.faults.scale_cluster import NETWORK, Cluster, query
from tests.processes import ServiceProcess


@dataclass
class Load:
    incidents: int
    follow_up_every: int
    raise_seconds: float
    raised: dict[int, dict[str, Any]] = field(default_factory=dict)  # n -> ingest's answer
    followed_up: dict[str, dict[str, Any]] = field(default_factory=dict)  # incident id -> answer

    @property
    def follow_ups(self) -> int:
        return len(range(0, self.incidents, self.follow_up_every))

    @property
    def drafts(self) -> int:
        return self.incidents + self.follow_ups

    def event_ids(self) -> dict[str, set[str]]:
        """Each incident's events as ingest accepted them (what its drafts must come from)."""
        events = {a["incident_id"]: {a["event_id"]} for a in self.raised.values()}
        for incident_id, answer in self.followed_up.items():
            events[incident_id].add(answer["event_id"])
        return events


async def schedule_posts(cluster: Cluster, count: int, within: float) -> list[dict[str, Any]]:
    """Marketing's calendar: `count` posts due from 2 s to 2 + `within` s from now on the
    three network channels, scheduled through both routers."""
    start = datetime.now(UTC) + timedelta(seconds=2)
    posts = []
    for i in range(count):
        answer = await cluster.http.post(
            f"{cluster.routers[i % 2].url}/v1/marketing/posts",
            headers=cluster.auth("marketing"),
            json={
                "channel_id": NETWORK[i % len(NETWORK)],
                "text": f"Offer {i}: 20% off weekend returns",
                "publish_at": (start + timedelta(seconds=within * i / count)).isoformat(),
            },
        )
        assert answer.status_code == 201, answer.text
        posts.append(answer.json())
    return posts


async def raise_incidents(cluster: Cluster, load: Load, *, in_flight: int = 16) -> None:
    """Operations raise the incidents evenly over `raise_seconds`, at most `in_flight` at a
    time: sev3 and sev4 in a region no marketing channel serves (nothing is paused, and no
    four-eyes rule applies)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    slots = asyncio.Semaphore(in_flight)

    async def raise_one(n: int) -> None:
        await asyncio.sleep(max(0.0, start + load.raise_seconds * n / load.incidents - loop.time()))
        async with slots:
            load.raised[n] = await _ingest(
                cluster,
                "/v1/incidents",
                f"scale-raise-{n}",
                {
                    "title": f"Lift {n} out of order at Central",
                    "severity": "sev3" if n % 2 else "sev4",
                    "affected": {"services": ["lifts"], "regions": ["east"]},
                    "customer_impact": "Step-free access is unavailable.",
                },
            )

    await asyncio.gather(*(raise_one(n) for n in range(load.incidents)))


async def approve_everything(cluster: Cluster, load: Load) -> None:
    """The duty manager approves every pending draft for all channels through the live
    routers in turn; once an incident's first update is approved, every `follow_up_every`-th
    incident gets a follow-up from operations. Returns when all drafts are approved."""
    turn = 0
    while True:
        approved = await query(
            cluster.router_db, "SELECT count(*) FROM drafts WHERE state = 'approved'"
        )
        if approved[0][0] >= load.drafts:
            return
        await _follow_up(cluster, load)
        routers = cluster.live_routers()
        turn += 1
        try:
            answer = await cluster.http.get(
                f"{routers[turn % len(routers)].url}/v1/drafts",
                params={"state": "pending"},
                headers=cluster.auth("duty_manager"),
            )
        except httpx.HTTPError:
            continue  # killed while answering: ask the other one
        assert answer.status_code == 200, answer.text
        pending = answer.json()
        if not pending:
            await asyncio.sleep(0.2)  # a poll's interval: nothing new drafted yet
            continue
        await asyncio.gather(
            *(
                _approve(cluster, routers[(turn + n) % len(routers)], draft["id"])
                for n, draft in enumerate(pending[:100])
            )
        )


async def _follow_up(cluster: Cluster, load: Load) -> None:
    """Operations update the chosen incidents whose first draft is approved, once each."""
    to_follow = {
        answer["incident_id"]: n
        for n, answer in load.raised.items()
        if n % load.follow_up_every == 0 and answer["incident_id"] not in load.followed_up
    }
    if not to_follow:
        return
    rows = await query(cluster.router_db, "SELECT incident_id FROM drafts WHERE state = 'approved'")
    for incident_id in {row[0] for row in rows} & set(to_follow):
        n = to_follow[incident_id]
        load.followed_up[incident_id] = await _ingest(
            cluster,
            f"/v1/incidents/{incident_id}/updates",
            f"scale-update-{n}",
            {"status": "identified", "message": f"Engineers are fixing lift {n}."},
        )


async def _ingest(cluster: Cluster, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to ingest; a dropped connection (a keep-alive the server closed as it was
    reused) is retried under the same Idempotency-Key, which is what the key is for."""
    for attempt in range(3):
        try:
            answer = await cluster.http.post(
                f"{cluster.ingest.url}{path}",
                headers={**cluster.auth("operator"), "Idempotency-Key": key},
                json=body,
            )
            break
        except httpx.TransportError:
            if attempt == 2:
                raise
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    return accepted


async def _approve(cluster: Cluster, router: ServiceProcess, draft_id: str) -> None:
    try:
        answer = await cluster.http.post(
            f"{router.url}/v1/drafts/{draft_id}/approve", headers=cluster.auth("duty_manager")
        )
    except httpx.HTTPError:
        return  # killed mid-request: the draft shows up pending again if it did not commit
    assert answer.status_code in (200, 409), answer.text  # 409: approved meanwhile
