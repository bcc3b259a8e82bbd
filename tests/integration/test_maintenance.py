"""Planned works on real parts: the router and the publisher apps, the real broker, their
databases and a webhook receiver as the marketing channel. A window is scheduled and its
announcement approved; when it starts, marketing on the channel it touches is paused (reason
"maintenance") and a promotion due inside it is held; the page shows the works upcoming,
then in progress with the component under maintenance; when it ends, the pause is released
and the held post waits for a decision, as after an incident. A second window is extended,
then cancelled; each change is drafted and audited."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from services.publisher.main import create_app as create_publisher
from services.publisher.settings import PublisherSettings
from services.router.main import create_app as create_router
from services.router.settings import RouterSettings
from shared.devtools.sandbox import WebhookPeer, serve
from shared.web.auth import generate_dev_tokens
from tests.databases import scratch_database
from tests.support import eventually

SECRET = "maintenance-webhook-secret"
COMPONENTS = "components:\n  - {id: north-line, name: North line, regions: [north]}\n"


@asynccontextmanager
async def _serving(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, within=30, what=f"{name} ready")
            yield client


@pytest.fixture
def peer() -> Iterator[str]:
    with serve(WebhookPeer(secret=SECRET).app) as url:
        yield url


@pytest.fixture
async def apps(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    peer: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, str]]]:
    monkeypatch.setenv("MAINTENANCE_WEBHOOK_SECRET", SECRET)
    channels = [
        {"id": "status", "type": "statuspage", "name": "Status page"},
        {
            "id": "promo-north",
            "type": "webhook",
            "name": "Northern offers",
            "marketing": True,
            "url": peer + "/hooks/planb",
            "credentials_env": {"secret": "MAINTENANCE_WEBHOOK_SECRET"},
            "tags": {"regions": ["north"]},
        },
    ]
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump({"channels": channels}))
    (tmp_path / "components.yaml").write_text(COMPONENTS)
    tokens = generate_dev_tokens(tmp_path)
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap_servers,
        "topic_prefix": topic_prefix,
        "topic_partitions": 2,
        "kafka_session_timeout_ms": 6000,
        "data_dir": tmp_path,
        "config_dir": tmp_path,
    }
    with (
        scratch_database(tmp_path, "router") as router_db,
        scratch_database(tmp_path, "publisher") as publisher_db,
    ):
        router_settings = RouterSettings(
            **common, database_url=router_db, maintenance_poll_seconds=0.2
        )
        publisher_settings = PublisherSettings(**common, database_url=publisher_db)
        async with AsyncExitStack() as stack:
            publisher = await stack.enter_async_context(
                _serving(create_publisher(publisher_settings), "publisher")
            )
            router = await stack.enter_async_context(
                _serving(create_router(router_settings), "router")
            )
            yield router, publisher, tokens


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


async def _approve_pending(
    router: httpx.AsyncClient, tokens: dict[str, str], maintenance_id: str
) -> dict[str, Any]:
    async def pending() -> list[dict[str, Any]] | None:
        answer = await router.get(
            "/v1/drafts",
            params={"incident_id": maintenance_id, "state": "pending"},
            headers=_auth(tokens, "admin"),
        )
        drafts: list[dict[str, Any]] = answer.json()
        return drafts or None

    (draft,) = await eventually(pending, what=f"a pending draft of {maintenance_id}")
    approved = await router.post(
        f"/v1/drafts/{draft['id']}/approve", json={}, headers=_auth(tokens, "duty_manager")
    )
    assert approved.status_code == 200, approved.text
    return draft


async def test_a_window_starts_holds_a_promotion_due_inside_it_and_ends(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, str]],
) -> None:
    router, publisher, tokens = apps
    now = datetime.now(UTC)
    created = await router.post(
        "/v1/maintenance",
        json={
            "title": "Track renewal north of X",
            "starts_at": (now + timedelta(seconds=4)).isoformat(),
            "ends_at": (now + timedelta(seconds=9)).isoformat(),
            "affected": {"regions": ["north"]},
            "text": "Buses replace trains.",
        },
        headers=_auth(tokens, "operator"),
    )
    assert created.status_code == 201, created.text
    works = created.json()
    post = await router.post(
        "/v1/marketing/posts",
        json={
            "channel_id": "promo-north",
            "text": "Weekend offer up north!",
            "publish_at": (now + timedelta(seconds=6)).isoformat(),
        },
        headers=_auth(tokens, "marketing"),
    )
    assert post.status_code == 201, post.text
    ahead = await _approve_pending(router, tokens, works["id"])
    assert "Planned works: Track renewal north of X, from" in ahead["texts"][0]["text"]

    async def board_state() -> tuple[list[str], str]:
        board = (await publisher.get("/status.json")).json()
        return [w["state"] for w in board["maintenance"]], board["components"][0]["state"]

    async def shown(expected: tuple[list[str], str]) -> None:
        async def probe() -> bool:
            return await board_state() == expected

        await eventually(probe, within=30, what=f"the page showing {expected}")

    await shown((["scheduled"], "operational"))
    feed = (await publisher.get("/status/feed.atom")).text
    assert "Upcoming: Track renewal north of X" in feed

    async def channel() -> dict[str, Any]:
        answer = await router.get("/v1/channels", headers=_auth(tokens, "admin"))
        found: dict[str, Any] = next(c for c in answer.json() if c["id"] == "promo-north")
        return found

    async def paused() -> bool:
        return bool((await channel())["paused"])

    await eventually(paused, what="promo-north paused for the works")
    (pause,) = (await channel())["pauses"]
    assert pause["reason"] == "maintenance: Track renewal north of X"
    await shown((["in_progress"], "under_maintenance"))
    page = (await publisher.get("/status")).text
    assert "In progress" in page
    assert "Buses replace trains." in page

    async def resumed() -> bool:
        return not (await channel())["paused"]

    await eventually(resumed, within=30, what="promo-north resumed after the works")
    await shown(([], "operational"))
    held = await router.get(
        f"/v1/marketing/posts/{post.json()['id']}", headers=_auth(tokens, "admin")
    )
    assert held.json()["state"] == "held"  # due inside the window: it waits for a decision

    drafts = await router.get(
        "/v1/drafts", params={"incident_id": works["id"]}, headers=_auth(tokens, "admin")
    )
    assert len(drafts.json()) == 3  # ahead, start, end


async def test_a_window_is_extended_then_cancelled(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, str]],
) -> None:
    router, _, tokens = apps
    now = datetime.now(UTC)
    body = {
        "title": "Lift works",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    }
    works = (
        await router.post("/v1/maintenance", json=body, headers=_auth(tokens, "operator"))
    ).json()
    operator = _auth(tokens, "operator")
    shorter = await router.post(
        f"/v1/maintenance/{works['id']}/extend",
        json={"ends_at": (now + timedelta(minutes=90)).isoformat()},
        headers=operator,
    )
    assert shorter.status_code == 422
    longer = await router.post(
        f"/v1/maintenance/{works['id']}/extend",
        json={"ends_at": (now + timedelta(hours=3)).isoformat()},
        headers=operator,
    )
    assert longer.status_code == 200, longer.text
    cancelled = await router.post(
        f"/v1/maintenance/{works['id']}/cancel", json={"reason": "contractor ill"}, headers=operator
    )
    assert cancelled.json()["state"] == "cancelled"
    again = await router.post(
        f"/v1/maintenance/{works['id']}/cancel", json={"reason": "twice"}, headers=operator
    )
    assert again.status_code == 409
    marketing = await router.post("/v1/maintenance", json=body, headers=_auth(tokens, "marketing"))
    assert marketing.status_code == 403
    drafts = await router.get(
        "/v1/drafts", params={"incident_id": works["id"]}, headers=_auth(tokens, "admin")
    )
    assert [d["state"] for d in drafts.json()].count("pending") == 1  # the latest supersedes
    listed = await router.get("/v1/maintenance", headers=_auth(tokens, "admin"))
    assert listed.json()[0]["id"] == works["id"]


async def test_works_cancelled_under_way_release_the_pause_and_say_so(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, str]],
) -> None:
    router, _, tokens = apps
    operator, admin = _auth(tokens, "operator"), _auth(tokens, "admin")
    now = datetime.now(UTC)
    body = {
        "title": "Bridge inspection",
        "starts_at": (now + timedelta(seconds=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "affected": {"regions": ["north"]},
    }
    works = (await router.post("/v1/maintenance", json=body, headers=operator)).json()

    async def promo_paused() -> bool:
        channels = (await router.get("/v1/channels", headers=admin)).json()
        return bool(next(c for c in channels if c["id"] == "promo-north")["paused"])

    await eventually(promo_paused, what="promo-north paused while the works are under way")
    cancelled = await router.post(
        f"/v1/maintenance/{works['id']}/cancel", json={"reason": "all clear"}, headers=operator
    )
    assert cancelled.json()["state"] == "cancelled"
    assert not await promo_paused()
    drafts = await router.get(
        "/v1/drafts", params={"incident_id": works["id"], "state": "pending"}, headers=admin
    )
    (latest,) = drafts.json()
    assert "Planned works stopped early: Bridge inspection is over." in latest["texts"][0]["text"]
