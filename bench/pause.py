"""Time to pause: incident accepted (ingest's 202) → a `channel paused` record on
planb.outbound for every affected channel, read by an outside consumer.

One sev1 incident at a time (the policy pauses every marketing channel on sev1), each a new
incident, so each pauses every channel again. Variants: 10 channels, 1,000 channels, and 10
channels with 10,000 scheduled posts that every incident must hold (between samples the
bench puts the held posts back to `scheduled` with one UPDATE on the router's database).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update

from bench.stats import jitter, summarise
from bench.system import Bench, System, channels, running_system
from services.router.context import RouterContext
from services.router.marketing import schedule_post
from services.router.models import MarketingPost
from services.router.schemas_marketing import PostIn
from shared.web.auth import Principal, Role

MARKETER = Principal(name="bench-marketing", role=Role.MARKETING)
DUMMY_URL = "http://127.0.0.1:9/none"  # the publisher is not running here


async def run(bench: Bench, *, channel_count: int, posts: int = 0) -> dict[str, Any]:
    label = f"pause {channel_count} channels" + (f", {posts} posts" if posts else "")
    samples = _samples(bench, channel_count)
    async with running_system(bench, "pause", channels(channel_count, DUMMY_URL)) as system:
        if posts:
            await _schedule(system, posts)
            bench.progress(f"{label}: {posts} posts scheduled")
        await _one(system, posts)  # warm-up: the router's consumer is assigned by now
        per_incident: list[float] = []
        per_channel: list[float] = []
        for i in range(samples):
            incident_id, accepted = await _one(system, posts)
            assert system.watcher is not None
            arrivals = system.watcher.paused[incident_id].values()
            per_incident.append(max(arrivals) - accepted)
            per_channel.extend(t - accepted for t in arrivals)
            if (i + 1) % max(1, samples // 5) == 0:
                bench.progress(
                    f"{label}: {i + 1}/{samples}, p50 {summarise(per_incident).median_ms:.1f} ms"
                )
        held = await _held(system) if posts else 0
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


async def _one(system: System, posts: int) -> tuple[str, float]:
    if posts:
        await _reschedule(system)
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
    return incident_id, accepted


def _router(system: System) -> tuple[FastAPI, RouterContext]:
    app = system.apps["router"]
    return app, app.state.context


async def _schedule(system: System, posts: int) -> None:
    """Lay the calendar down through the router's own code, in one transaction."""
    app, ctx = _router(system)
    start = datetime.now(UTC) + timedelta(days=1)
    async with app.state.runtime.database.transaction() as session:
        for i in range(posts):
            body = PostIn(
                channel_id=system.channels[i % len(system.channels)].id,
                text=f"Offer {i}: 20% off weekend returns",
                publish_at=start + timedelta(seconds=i),
                campaign="bench",
            )
            await schedule_post(ctx, session, body, by=MARKETER)


async def _reschedule(system: System) -> None:
    app, _ = _router(system)
    async with app.state.runtime.database.transaction() as session:
        await session.execute(
            update(MarketingPost)
            .where(MarketingPost.state == "held")
            .values(state="scheduled", detail=None)
        )


async def _held(system: System) -> int:
    app, _ = _router(system)
    async with app.state.runtime.database.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(MarketingPost).where(MarketingPost.state == "held")
        )
    return int(count or 0)
