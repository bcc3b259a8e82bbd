"""Time to pause: incident accepted (ingest's 202) → a `channel paused` record on
planb.outbound for every affected channel, read by an outside consumer.

One sev1 incident at a time (the policy pauses every marketing channel on sev1), each a new
incident, so each pauses every channel again. Variants: 10 channels, 1,000 channels, and 10
channels with 10,000 scheduled posts that every incident must hold (the bench writes them,
and between samples, once the router's holding job has held them all, puts the held posts
back to `scheduled` with one UPDATE, on the router's database through a connection of its
own, as an operator's script would).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.start import running_system
from bench.stats import jitter, summarise
from bench.system import Bench, System, channels
from services.router.models import MarketingPost
from shared.runtime.database import Database

DUMMY_URL = "http://127.0.0.1:9/none"  # the publisher is not running here


async def run(bench: Bench, *, channel_count: int, posts: int = 0) -> dict[str, Any]:
    label = f"pause {channel_count} channels" + (f", {posts} posts" if posts else "")
    samples = _samples(bench, channel_count)
    async with (
        running_system(bench, "pause", channels(channel_count, DUMMY_URL)) as system,
        _router_database(system, posts) as database,
    ):
        if database:
            await _schedule(system, database, posts)
            bench.progress(f"{label}: {posts} posts scheduled")
        await _one(system, database)  # warm-up: the router's consumer is assigned by now
        per_incident: list[float] = []
        per_channel: list[float] = []
        for i in range(samples):
            incident_id, accepted = await _one(system, database)
            assert system.watcher is not None
            arrivals = system.watcher.paused[incident_id].values()
            per_incident.append(max(arrivals) - accepted)
            per_channel.extend(t - accepted for t in arrivals)
            if (i + 1) % max(1, samples // 5) == 0:
                bench.progress(
                    f"{label}: {i + 1}/{samples}, p50 {summarise(per_incident).median_ms:.1f} ms"
                )
        held = posts  # each sample waited for all of them held (`_reschedule`)
    return {
        "every_channel": summarise(per_incident).as_dict(),
        "each_channel": summarise(per_channel).as_dict(),
        "channels": channel_count,
        "posts": posts,
        "posts_held_by_last_incident": held,
    }


def _samples(bench: Bench, channel_count: int) -> int:
    if channel_count >= 1000:
        return bench.samples(200, 30)
    return bench.samples(300, 200)


async def _one(system: System, database: Database | None) -> tuple[str, float]:
    await jitter()
    incident_id, accepted = await system.raise_incident("sev1")
    watcher = system.watcher
    assert watcher is not None
    expected = len(system.channels)
    await watcher.until(
        lambda: len(watcher.paused.get(incident_id, {})) >= expected,
        within=120,
        what=f"{expected} pause records for {incident_id}",
    )
    if database:
        await _reschedule(database)
    return incident_id, accepted


@asynccontextmanager
async def _router_database(system: System, posts: int) -> AsyncIterator[Database | None]:
    """The bench's own connection to the router's database, when there are posts to hold."""
    if not posts:
        yield None
        return
    database = Database(system.database_urls["router"])
    try:
        yield database
    finally:
        await database.dispose()


async def _schedule(system: System, database: Database, posts: int) -> None:
    """Lay the calendar down in one INSERT: the rows the router's `schedule_post` writes for
    channels that are not paused (the 10,000 API calls would take minutes)."""
    start, now = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC)
    rows = []
    for i in range(posts):
        post_id = "mkt_" + uuid.uuid4().hex[:20]
        rows.append(
            {
                "id": post_id,
                "channel_id": system.channels[i % len(system.channels)].id,
                "text": f"Offer {i}: 20% off weekend returns",
                "campaign": "bench",
                "publish_at": start + timedelta(seconds=i),
                "state": "scheduled",
                "message_id": "msg_" + post_id.removeprefix("mkt_"),
                "emissions": 0,
                "created_by": "bench-marketing",
                "created_at": now,
                "updated_at": now,
            }
        )
    async with database.transaction() as session:
        await session.execute(insert(MarketingPost), rows)


async def _reschedule(database: Database) -> None:
    """Once the incident's posts are all held (the router holds them after the pause
    commits), put them back, so the next incident holds all of them again."""
    async with database.transaction() as session:
        posts = int(await session.scalar(select(func.count()).select_from(MarketingPost)) or 0)
    deadline = time.monotonic() + 60
    while (held := await _held(database)) < posts:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {held} of {posts} posts held 60 s after the pause")
        await asyncio.sleep(0.005)
    async with database.transaction() as session:
        await session.execute(
            update(MarketingPost)
            .where(MarketingPost.state == "held")
            .values(state="scheduled", detail=None)
        )


async def _held(database: Database) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(MarketingPost).where(MarketingPost.state == "held")
        )
    return int(count or 0)
