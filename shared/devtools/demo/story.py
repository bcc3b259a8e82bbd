"""The narrated incident of `planb demo`, driven through the public HTTP APIs with the dev
tokens; every claim is checked before it is printed (a retrying poll for the paused channel,
the pending draft, the posts on the sandbox timelines and the status page), loudly failing
when one does not come."""

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from shared.devtools.demo.narration import (
    curl,
    promo_count,
    replies_under,
    say,
    show,
    thread_roots,
    watch_timelines,
)
from shared.devtools.demo.timing import Timing
from shared.devtools.sandbox import RecordedPost
from shared.devtools.sandbox.accounts import Account, Sandbox, promotions, schedule

T = TypeVar("T")
DONE = "The story is complete."

TITLE = "Trains held outside Northgate"
INCIDENT = {
    "title": TITLE,
    "severity": "sev3",
    "summary": "A signal fault north of Northgate is holding trains.",
    "customer_impact": "Northern line trains are held between Northgate and Central; "
    "expect delays of up to 30 minutes.",
    "affected": {"services": ["trains"], "regions": ["north"]},
    "next_update_in_minutes": 30,
}
FOLLOW_UP = {
    "status": "identified",
    "message": "Engineers found a failed signal at Northgate and are fixing it; trains "
    "should move within 20 minutes.",
}
RESOLVED = {"status": "resolved", "message": "Trains are moving again. Thank you for waiting."}


@dataclass
class Story:
    sandbox: Sandbox
    tokens: dict[str, str]
    ingest: str
    router: str
    publisher: str
    timing: Timing
    auto_approve: bool
    data_dir: Path
    promos: set[str] = field(default_factory=set)
    drafts: set[str] = field(default_factory=set)
    at_pause: dict[str, int] = field(default_factory=dict)
    roots: dict[str, RecordedPost] = field(default_factory=dict)
    http: httpx.AsyncClient = field(init=False)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def until(
        self, probe: Callable[[], Awaitable[T | None]], what: str, limit: float | None = None
    ) -> T:
        """Poll `probe` until it gives something truthy; fail saying `what` after `limit`."""
        deadline = asyncio.get_running_loop().time() + (limit or self.timing.wait)
        while asyncio.get_running_loop().time() < deadline:
            if found := await probe():
                return found
            await asyncio.sleep(0.2)
        raise TimeoutError(f"no {what} within {limit or self.timing.wait:.0f}s")

    async def tell(self) -> None:
        async with httpx.AsyncClient(timeout=10) as self.http:
            watcher = asyncio.create_task(watch_timelines(self.sandbox, self.promos))
            try:
                await self._introduce()
                incident_id = await self._raise()
                await self._approve_first_update(incident_id)
                await self._follow_up(incident_id)
                await self._resolve(incident_id)
                await watcher  # keep narrating posts until Ctrl-C
            finally:
                watcher.cancel()

    # -- the chapters -------------------------------------------------------------------

    async def _introduce(self) -> None:
        say("Plan B is up. The sandbox timelines (open them in a browser; they refresh):")
        for account in self.sandbox.accounts():
            show(f"{account.label}  {account.url}/   -> channel {account.channel_id}")
        show(f"status page        {self.publisher}/status")
        every = self.timing.promo_every
        say(f"1. Marketing schedules promotions: north and south, one every {every:.0f} s each")
        start = datetime.now(UTC) + timedelta(seconds=1)
        posts = promotions(start, every, self.timing.promos_per_channel)
        self.promos.update(post["text"] for post in posts)
        show(
            curl(
                "POST", f"{self.router}/v1/marketing/posts", self.tokens["marketing"], body=posts[0]
            )
        )
        await schedule(self.http, self.router, self.tokens["marketing"], posts=posts)
        say(f"   {len(posts)} promotions scheduled; watch them go out:")
        await self.until(
            lambda: self._promos_on(self.sandbox.north, self.sandbox.south), "promotion north+south"
        )

    async def _promos_on(self, *accounts: Account) -> bool:
        return all(self.promo_count(a) > 0 for a in accounts)

    def promo_count(self, account: Account) -> int:
        return promo_count(account, self.promos)

    async def _raise(self) -> str:
        await self.beat()
        say("2. Operations raise a sev3 incident in the north through the ingest API:")
        show(curl("POST", f"{self.ingest}/v1/incidents", self.tokens["operator"], body=INCIDENT))
        answer = await self.http.post(
            f"{self.ingest}/v1/incidents", headers=self.auth("operator"), json=INCIDENT
        )
        answer.raise_for_status()
        incident_id: str = answer.json()["incident_id"]
        say(f"   ingest accepted {incident_id}")

        async def north_paused() -> list[dict[str, Any]] | None:
            channels = (
                await self.http.get(f"{self.router}/v1/channels", headers=self.auth("duty_manager"))
            ).json()
            paused = {c["id"] for c in channels if c["paused"]}
            return channels if "north-mastodon" in paused else None

        channels = await self.until(north_paused, "pause of north-mastodon")
        for channel in channels:
            if channel["marketing"]:
                state = "PAUSED" if channel["paused"] else "still open"
                say(
                    f"   {channel['id']:15} {state}: {channel['held_posts']} held, "
                    f"{channel['scheduled_posts']} scheduled"
                )
        say("   promotions stop in the north; the south is not affected and keeps posting.")
        self.at_pause = {a.channel_id: self.promo_count(a) for a in self.sandbox.accounts()}
        return incident_id

    async def _pending_draft(self, incident_id: str, after: set[str]) -> dict[str, Any]:
        async def pending() -> dict[str, Any] | None:
            drafts = (
                await self.http.get(
                    f"{self.router}/v1/drafts",
                    params={"state": "pending", "incident_id": incident_id},
                    headers=self.auth("duty_manager"),
                )
            ).json()
            fresh = [d for d in drafts if d["id"] not in after]
            return fresh[-1] if fresh else None

        return await self.until(pending, "pending draft")

    async def _decide(self, draft: dict[str, Any]) -> None:
        """Approve through the API (--auto-approve) or wait for a person in the console."""
        url = f"{self.router}/v1/drafts/{draft['id']}/approve"
        if self.auto_approve:
            say("   --auto-approve: approving every channel with the admin token:")
            show(curl("POST", url, self.tokens["admin"]))
            (await self.http.post(url, headers=self.auth("admin"))).raise_for_status()
            return
        say(f"   waiting for you: approve draft {draft['id']} in the console")

        async def decided() -> dict[str, Any] | None:
            drafts = (
                await self.http.get(
                    f"{self.router}/v1/drafts",
                    params={"incident_id": draft["incident_id"]},
                    headers=self.auth("duty_manager"),
                )
            ).json()
            mine = [d for d in drafts if d["id"] == draft["id"] and d["state"] != "pending"]
            return mine[0] if mine else None

        result = await self.until(decided, "decision", limit=24 * 3600)
        say(f"   draft {result['state']} by {result['decided_by']}")

    async def _approve_first_update(self, incident_id: str) -> None:
        draft = await self._pending_draft(incident_id, set())
        self.drafts = {draft["id"]}
        say("3. The router drafted an update per channel; it waits for a duty manager:")
        show(f"console        {self.router}/console")
        show(f"sign in with   {self.tokens['duty_manager']}   (dana's token, a duty manager)")
        status_text = next(t["text"] for t in draft["texts"] if t["channel_id"] == "status")
        show("draft (status page): " + textwrap.shorten(status_text, 100))
        if self.auto_approve:  # let a promotion or two show the south still posting
            south = self.sandbox.south
            await self.until(
                self._more_promos(south, self.at_pause[south.channel_id] + 1), "south promotions"
            )
        await self._decide(draft)
        self.roots = await self.until(self._status_posts, "update on every sandbox timeline")
        say("4. The update is on every sandbox timeline (north, south, trains).")

        async def on_status_page() -> bool:
            page = await self.http.get(f"{self.publisher}/status.json")
            return TITLE in page.text

        await self.until(on_status_page, "update on the status page")
        say(f"   and on the status page: {self.publisher}/status")
        north, south = self.sandbox.north, self.sandbox.south
        since = {
            a.channel_id: self.promo_count(a) - self.at_pause[a.channel_id] for a in (north, south)
        }
        say(
            f"   promotions since the pause: north {since['north-mastodon']}, "
            f"south {since['south-bluesky']}"
        )

    def _more_promos(self, account: Account, than: int) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            return self.promo_count(account) > than

        return probe

    async def _status_posts(self) -> dict[str, RecordedPost] | None:
        return thread_roots(self.sandbox, self.promos)

    async def _replies(self, count: int) -> bool:
        return replies_under(self.sandbox, self.roots, count)

    async def beat(self) -> None:
        """A pause between chapters, so a person can follow (short with --fast)."""
        await asyncio.sleep(self.timing.beat)

    async def _follow_up(self, incident_id: str) -> None:
        await self.beat()
        say("5. Operations send a follow-up (an incident update):")
        url = f"{self.ingest}/v1/incidents/{incident_id}/updates"
        show(curl("POST", url, self.tokens["operator"], body=FOLLOW_UP))
        (
            await self.http.post(url, headers=self.auth("operator"), json=FOLLOW_UP)
        ).raise_for_status()
        draft = await self._pending_draft(incident_id, self.drafts)
        self.drafts.add(draft["id"])
        say(f"   a new draft {draft['id']} waits in the console ({self.router}/console)")
        await self._decide(draft)
        await self.until(lambda: self._replies(1), "threaded follow-up")
        say("   the follow-up is threaded under the first post on every sandbox timeline.")

    async def _resolve(self, incident_id: str) -> None:
        await self.beat()
        say("6. Operations resolve the incident:")
        url = f"{self.ingest}/v1/incidents/{incident_id}/updates"
        show(curl("POST", url, self.tokens["operator"], body=RESOLVED))
        (await self.http.post(url, headers=self.auth("operator"), json=RESOLVED)).raise_for_status()
        draft = await self._pending_draft(incident_id, self.drafts)
        self.drafts.add(draft["id"])
        say(f"   the resolution draft {draft['id']} waits in the console")
        await self._decide(draft)
        await self.until(lambda: self._replies(2), "threaded resolution")
        say("   the resolution is threaded too.")

        async def held() -> list[dict[str, Any]] | None:
            channels = (
                await self.http.get(f"{self.router}/v1/channels", headers=self.auth("duty_manager"))
            ).json()
            north = next(c for c in channels if c["id"] == "north-mastodon")
            return None if north["paused"] else channels

        await self.until(held, "north-mastodon to reopen")
        posts = (
            await self.http.get(
                f"{self.router}/v1/marketing/posts",
                params={"state": "held"},
                headers=self.auth("duty_manager"),
            )
        ).json()
        channels = sorted({p["channel_id"] for p in posts})
        say(
            f"7. North is no longer paused, but its {len(posts)} held promotions "
            f"({', '.join(channels) or 'none'}) wait for a duty manager to decide: in the "
            f"console's Marketing page, or"
        )
        body = {
            "channels": ["north-mastodon"],
            "all_posts": {"action": "restore"},
            "note": "trains moving again",
        }
        show(
            curl(
                "POST", f"{self.router}/v1/marketing/resume", self.tokens["duty_manager"], body=body
            )
        )
        show('(or "send_now", "reschedule" with "spread_minutes", "cancel")')
        say(f"{DONE} Plan B keeps running; Ctrl-C stops everything.")
