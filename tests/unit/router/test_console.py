"""The console over ASGI on a real database: sign-in, CSRF, pages, and decisions made through
the same domain functions as the API, refusals shown on the page."""

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.router.console import signins
from services.router.main import create_app
from services.router.models import Base, ChannelPause, ConsoleSignIn, DraftText
from services.router.settings import RouterSettings
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.events import Severity
from shared.runtime.database import Database
from shared.runtime.service import Runtime
from shared.web import tokens as personal
from shared.web.accounts import Accounts
from shared.web.auth import Role, TokenStore, generate_dev_tokens
from tests.unit.router.approval_harness import (
    Clock,
    deliver,
    drafts_of,
    pending,
    raised,
    router_context,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    def __init__(self, client: httpx.AsyncClient, db: Database, tokens: dict[str, str]) -> None:
        self.client = client
        self.db = db
        self.tokens = tokens
        self.ctx = router_context(Clock())
        self.app: FastAPI | None = None

    def use_channels(self, channels: list[ChannelConfig]) -> None:
        """The router configured with these channels instead (the console reads them too)."""
        self.ctx = router_context(Clock(), channels=channels)
        assert self.app is not None
        self.app.state.context = self.ctx

    async def csrf(self, path: str = "/console") -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found is not None, page.text
        return found.group(1)

    async def sign_in(self, role: str = "duty_manager") -> None:
        csrf = await self.csrf("/console/login")
        response = await self.client.post(
            "/console/login", data={"csrf": csrf, "token": self.tokens[role], "next": "/console"}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/console"


@pytest.fixture
async def console(tmp_path: Path, database_url: str) -> AsyncIterator[Console]:
    settings = RouterSettings(
        environment="test", data_dir=tmp_path, database_url=database_url, config_dir=tmp_path
    )
    tokens = generate_dev_tokens(tmp_path)
    runtime = Runtime(settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    app = create_app(settings)
    app.state.settings = settings
    app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
    app.state.accounts = Accounts(database_url, database=runtime.database)
    app.state.runtime = runtime
    made = Console(httpx.AsyncClient(), runtime.database, tokens)
    app.state.context = made.ctx
    made.app = app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://router") as client:
        made.client = client
        yield made
    await runtime.database.dispose()


async def test_pages_need_a_signed_in_token_and_the_cookie_is_secure(console: Console) -> None:
    response = await console.client.get("/console/drafts/d1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fdrafts%2Fd1"
    login = await console.client.get("/console/login")
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    csrf = CSRF.search(login.text)
    assert csrf is not None
    wrong = await console.client.post(
        "/console/login", data={"csrf": csrf.group(1), "token": "pb_nope", "next": "/console"}
    )
    assert wrong.status_code == 401
    assert "That token is not known" in wrong.text
    forged = await console.client.post(
        "/console/login", data={"csrf": "forged", "token": console.tokens["duty_manager"]}
    )
    assert forged.status_code == 403
    assert "This form had expired" in forged.text
    await console.sign_in()
    page = await console.client.get("/console")
    assert page.status_code == 200
    assert "dev-duty_manager" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_sign_out_ends_the_session_on_the_server(console: Console) -> None:
    await console.sign_in()
    copied = console.client.cookies.get("planb_console")  # what a thief would have kept
    csrf = await console.csrf()
    response = await console.client.post("/console/logout", data={"csrf": csrf})
    assert response.status_code == 303
    assert (await console.client.get("/console")).status_code == 303
    replayed = await console.client.get("/console", headers={"Cookie": f"planb_console={copied}"})
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/console/login")


async def personal_token(console: Console, name: str, role: Role) -> str:
    async with console.db.transaction() as session:
        issued = await personal.issue(
            session, name=name, roles=[role], expires_at=None, by="test", now=console.ctx.clock()
        )
    console.tokens[name] = issued.token
    return issued.token


async def test_revoking_a_token_ends_its_console_sessions_at_once(console: Console) -> None:
    await personal_token(console, "dana", Role.DUTY_MANAGER)
    await console.sign_in("dana")
    page = await console.client.get("/console")
    assert page.status_code == 200
    assert "dana" in page.text
    async with console.db.transaction() as session:
        await personal.revoke(session, "dana", by="test", now=console.ctx.clock())
    assert (await console.client.get("/console")).status_code == 303


async def test_an_idle_session_ends_and_the_page_says_until_when(console: Console) -> None:
    clock = console.ctx.clock
    assert isinstance(clock, Clock)
    await console.sign_in()
    page = await console.client.get("/console")
    ends = clock.now + timedelta(minutes=30)
    assert f"until {ends.strftime('%H:%M')}" in page.text
    clock.advance(minutes=29)
    assert (await console.client.get("/console")).status_code == 200  # and that renews it
    clock.advance(minutes=29)
    assert (await console.client.get("/console")).status_code == 200
    clock.advance(minutes=31)
    assert (await console.client.get("/console")).status_code == 303


async def test_the_overview_lists_incidents_with_severity_in_words_and_the_draft(
    console: Console,
) -> None:
    await deliver(console.ctx, console.db, raised("inc_a", Severity.SEV3))
    await deliver(console.ctx, console.db, raised("inc_b", Severity.SEV1))
    await console.sign_in()
    page = (await console.client.get("/console")).text
    assert page.index("inc_b") < page.index("inc_a")  # sev1 first
    assert "SEV1</span> critical" in page
    assert "Review draft" in page
    assert "Mastodon" in page  # sev1 pauses the marketing channel


async def test_the_counter_counts_as_the_server_does(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_c", Severity.SEV3))
    await console.sign_in()
    csrf = await console.csrf()
    body = {"channel_id": "masto", "text": "x" * 480 + " https://example.com/" + "a" * 200}
    refused = await console.client.post("/console/count", json=body)
    assert refused.status_code == 403
    counted = await console.client.post("/console/count", json=body, headers={"X-CSRF-Token": csrf})
    assert counted.json() == {
        "length": 504,
        "limit": 500,
        "unit": "characters",
        "rule": "graphemes; every link counts 23 and @user@server counts as @user",
        "over": 4,
        "fits": False,
        "links": ["https://example.com/" + "a" * 200],
    }


async def test_a_refused_approval_shows_why_and_keeps_what_was_typed(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_d", Severity.SEV1))
    draft = await pending(console.db, "inc_d")
    await console.sign_in()
    csrf = await console.csrf(f"/console/drafts/{draft.id}")
    too_long = "Trains are held. " + "z" * 600
    response = await console.client.post(
        f"/console/drafts/{draft.id}/approve",
        data={"csrf": csrf, "channel": ["status", "masto"], "text:masto": too_long},
    )
    assert response.status_code == 422
    assert "Text too long" in response.text
    assert too_long in response.text
    assert "117 over" in response.text
    # an edit by the approver is refused by the four-eyes rule (sev1), and rolled back
    response = await console.client.post(
        f"/console/drafts/{draft.id}/approve",
        data={"csrf": csrf, "channel": "masto", "text:masto": "Trains are held."},
    )
    assert response.status_code == 403
    assert "four-eyes rule for sev1: dev-duty_manager edited the masto text" in response.text
    async with console.db.sessions() as session:
        texts = await session.scalars(select(DraftText).where(DraftText.draft_id == draft.id))
        assert all(t.edited_by is None for t in texts)
    assert (await pending(console.db, "inc_d")).id == draft.id
    forged = await console.client.post(
        f"/console/drafts/{draft.id}/approve", data={"csrf": "x", "channel": "masto"}
    )
    assert forged.status_code == 403
    assert "did not come from this console" in forged.text


async def test_approve_some_channels_then_see_their_delivery(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_e", Severity.SEV3))
    draft = await pending(console.db, "inc_e")
    await console.sign_in()
    csrf = await console.csrf(f"/console/drafts/{draft.id}")
    response = await console.client.post(
        f"/console/drafts/{draft.id}/approve", data={"csrf": csrf, "channel": "status"}
    )
    assert response.status_code == 303, response.text
    page = await console.client.get(response.headers["location"])
    assert "Approved for status." in page.text
    assert "APPROVED" in page.text
    fragment = await console.client.get(f"/console/drafts/{draft.id}/deliveries")
    assert 'data-done="false"' in fragment.text
    assert 'data-state="requested"' in fragment.text
    assert "masto" not in fragment.text
    (decided,) = await drafts_of(console.db, "inc_e", "approved")
    assert decided.decided_by == "dev-duty_manager"


async def test_reject_needs_a_reason(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_f", Severity.SEV3))
    draft = await pending(console.db, "inc_f")
    await console.sign_in()
    csrf = await console.csrf(f"/console/drafts/{draft.id}")
    url = f"/console/drafts/{draft.id}/reject"
    empty = await console.client.post(url, data={"csrf": csrf, "reason": " "})
    assert empty.status_code == 422
    assert "the reason is required" in empty.text
    done = await console.client.post(url, data={"csrf": csrf, "reason": "wrong station"})
    assert done.status_code == 303
    (rejected,) = await drafts_of(console.db, "inc_f", "rejected")
    assert rejected.reason == "wrong station"


async def test_only_duty_managers_decide(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_g", Severity.SEV3))
    draft = await pending(console.db, "inc_g")
    await console.sign_in("operator")
    page = await console.client.get(f"/console/drafts/{draft.id}")
    assert "only a duty manager or an admin can decide" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    response = await console.client.post(
        f"/console/drafts/{draft.id}/approve", data={"csrf": csrf.group(1), "channel": "status"}
    )
    assert response.status_code == 403
    assert "You are signed in as dev-operator (operator)" in response.text


async def test_the_red_button_needs_a_reason_and_a_confirmation(console: Console) -> None:
    await console.sign_in()
    csrf = await console.csrf("/console/marketing")
    url = "/console/marketing/pause"
    unconfirmed = await console.client.post(url, data={"csrf": csrf, "reason": "storm"})
    assert unconfirmed.status_code == 422
    assert "Tick the confirmation" in unconfirmed.text
    short = await console.client.post(url, data={"csrf": csrf, "reason": "x", "confirm": "yes"})
    assert short.status_code == 422
    assert "reason: String should have at least 3 characters" in short.text
    done = await console.client.post(
        url, data={"csrf": csrf, "reason": "storm warning", "confirm": "yes"}
    )
    assert done.status_code == 303
    board = await console.client.get("/console/marketing")
    assert "Marketing paused on 1 channels (masto)" in board.text
    assert "by hand: storm warning (paused by dev-duty_manager)" in board.text
    async with console.db.sessions() as session:
        pauses = (await session.scalars(select(ChannelPause))).all()
        assert [p.channel_id for p in pauses] == ["masto"]
    resumed = await console.client.post(
        "/console/marketing/resume", data={"csrf": csrf, "all_action": "restore"}
    )
    assert resumed.status_code == 303
    board = await console.client.get("/console/marketing")
    assert "Resumed: masto." in board.text


async def test_incident_page_has_timeline_and_audit_trail(console: Console) -> None:
    await deliver(console.ctx, console.db, raised("inc_h", Severity.SEV2))
    draft = await pending(console.db, "inc_h")
    await console.sign_in()
    csrf = await console.csrf(f"/console/drafts/{draft.id}")
    await console.client.post(
        f"/console/drafts/{draft.id}/reject", data={"csrf": csrf, "reason": "tone"}
    )
    page = await console.client.get("/console/incidents/inc_h")
    assert page.status_code == 200
    assert "Timeline" in page.text
    assert f"Draft {draft.id} rejected: tone" in page.text
    assert "draft.rejected" in page.text
    assert "channel.paused" in page.text
    missing = await console.client.get("/console/incidents/nope")
    assert missing.status_code == 404
    assert "There is no incident nope." in missing.text


async def test_a_form_with_too_many_fields_is_a_problem_not_a_crash(console: Console) -> None:
    """Anyone, without a cookie, could make a 500 and a logged traceback with 2,100 fields."""
    body = "&".join(f"f{n}=x" for n in range(2100))
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await console.client.post("/console/login", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["title"] == "Too many form fields"


async def test_an_alertmanager_incident_links_back_to_its_group(console: Console) -> None:
    ref = 'http://am.example:9093/#/alerts?filter={alertname="DiskFull",instance="db1"}'
    await deliver(
        console.ctx,
        console.db,
        raised("inc_am", Severity.SEV3).model_copy(update={"external_ref": ref}),
    )
    await console.sign_in()

    page = await console.client.get("/console/incidents/inc_am")

    assert page.status_code == 200
    assert (
        '<a href="http://am.example:9093/#/alerts?filter={alertname=&#34;DiskFull&#34;,'
        'instance=&#34;db1&#34;}" rel="noreferrer" class="external-ref">'
        "{alertname=&#34;DiskFull&#34;,instance=&#34;db1&#34;}</a>"
    ) in page.text


async def test_a_channels_languages_side_by_side_each_counted_and_edited(
    console: Console,
) -> None:
    console.use_channels(
        [
            ChannelConfig(
                id="sky", type=ChannelType.BLUESKY, name="Bluesky", languages=["en", "fr", "de"]
            ),
            ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status"),
        ]
    )
    await deliver(console.ctx, console.db, raised("inc_l", Severity.SEV3))
    draft = await pending(console.db, "inc_l")
    await console.sign_in()

    page = await console.client.get(f"/console/drafts/{draft.id}")

    assert page.status_code == 200
    for key in ("sky:en", "sky:fr", "sky:de", "status:en"):
        assert f'name="text:{key}"' in page.text
        assert f'data-counter="{key}"' in page.text
    assert '<div class="language" lang="fr">' in page.text
    assert "No de template: this is the en text." in page.text
    assert "No fr template" not in page.text
    csrf = await console.csrf(f"/console/drafts/{draft.id}")
    saved = await console.client.post(
        f"/console/drafts/{draft.id}/save",
        data={"csrf": csrf, "text:sky:de": "Züge stehen vor dem Tunnel."},
    )
    assert saved.status_code == 303, saved.text
    async with console.db.sessions() as session:
        rows = await session.scalars(
            select(DraftText).where(DraftText.draft_id == draft.id, DraftText.channel_id == "sky")
        )
        by_language = {row.language: row for row in rows}
    assert by_language["de"].text == "Züge stehen vor dem Tunnel."
    assert by_language["de"].edited_by == "dev-duty_manager"
    assert by_language["fr"].edited_by is None
    approve = await console.client.post(
        f"/console/drafts/{draft.id}/approve",
        data={"csrf": csrf, "channel": ["sky:en", "sky:fr", "status"]},  # German left out
    )
    assert approve.status_code == 303, approve.text
    async with console.db.sessions() as session:
        sent = await session.scalars(
            select(DraftText.channel_id + ":" + DraftText.language).where(
                DraftText.draft_id == draft.id, DraftText.message_id.is_not(None)
            )
        )
        # Bluesky's English and French fit in one post (its first row carries the id)
        assert sorted(sent) == ["sky:en", "status:en"]


async def test_sessions_long_over_are_forgotten(console: Console) -> None:
    clock = console.ctx.clock
    assert isinstance(clock, Clock)
    await console.sign_in()
    await signins.forget_old(console.db, clock.now)
    async with console.db.reader() as session:
        assert len((await session.scalars(select(ConsoleSignIn))).all()) == 1
    await signins.forget_old(console.db, clock.advance(days=8))
    async with console.db.reader() as session:
        assert (await session.scalars(select(ConsoleSignIn))).all() == []
