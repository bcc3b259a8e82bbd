"""The duty manager's console in a real browser against the real system (`planb run`):
sign in, watch the counter go red over the limit, approve, see the status page channel
published and a refused channel dead with the platform's reason; the red button pauses every
marketing channel. Screenshots of each screen at phone and desktop width land in
artifacts/screenshots/."""

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devtools.broker import EmbeddedBroker
from shared.devtools.sandbox import MastodonPeer, serve
from tests.browser.conftest import DESKTOP, PHONE
from tests.e2e.test_walking_skeleton import System, _planb_run

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
    marketing: false
  - id: promo-north
    type: statuspage
    name: Northern announcements
    marketing: true
    tags: {{regions: [north]}}
  - id: masto
    type: mastodon
    name: Mastodon
    marketing: true
    url: {url}
    credentials_env: {{access_token: CONSOLE_MASTODON_TOKEN}}
  - id: masto-old
    type: mastodon
    name: Old Mastodon account
    url: {url}
    credentials_env: {{access_token: CONSOLE_OLD_MASTODON_TOKEN}}
"""


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, broker: EmbeddedBroker
) -> Iterator[tuple[System, MastodonPeer]]:
    """The three services as real processes, a Mastodon peer; one old account's token is
    revoked, so its deliveries die with Mastodon's own reason."""
    peer = MastodonPeer(token="console-mastodon-token")
    tmp_path = tmp_path_factory.mktemp("console")
    with serve(peer.app) as url:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CONSOLE_MASTODON_TOKEN": peer.token,
            "CONSOLE_OLD_MASTODON_TOKEN": "revoked-token",
        }
        channels = CHANNELS.format(url=url)
        with _planb_run(
            tmp_path, env, "console" + tmp_path.name[-6:], channels_yaml=channels
        ) as running:
            yield running, peer


def shoot(page: Any, folder: Path, name: str) -> None:
    """The page at phone and at desktop width, whole (the viewport is left at desktop)."""
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)


def raise_incident(system: System, **fields: Any) -> str:
    body = {"title": "Trains stuck at Central", "severity": "sev3", **fields}
    response = httpx.post(
        f"{system.ingest}/v1/incidents", headers=system.auth("operator"), json=body, timeout=10
    )
    assert response.status_code == 202, response.text
    return str(response.json()["incident_id"])


def sign_in(page: Any, system: System, role: str = "duty_manager") -> None:
    page.goto(f"{system.router}/console")
    assert page.url.startswith(f"{system.router}/console/login?next=")
    page.get_by_label("Your access token").fill(system.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{system.router}/console")


def test_sign_in_edit_over_the_limit_approve_and_watch_delivery(
    system: tuple[System, MastodonPeer], browser: Any, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    planb, peer = system
    incident_id = raise_incident(
        planb,
        customer_impact="Northern line trains are held in tunnels.",
        affected={"services": ["trains"], "regions": ["north"]},
        next_update_in_minutes=30,
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{planb.router}/console")
    shoot(page, screenshots, "1-sign-in")
    sign_in(page, planb)
    cookie = next(c for c in context.cookies() if c["name"] == "planb_console")
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True

    # the first screen: the incident by severity (in words), what it paused, its draft
    card = page.locator("li.incident", has_text="Trains stuck at Central")
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".sev")).to_have_text("SEV3 minor")
    expect(card).to_contain_text("Northern announcements")
    expect(card.locator(".countdown")).to_have_text(re.compile(r"^in (29|30):\d\d min$"))
    review = card.get_by_role("link", name="Review draft")
    expect(review).to_be_visible(timeout=30_000)
    page.reload()  # the draft arrived while the page was open: show it in the screenshot
    shoot(page, screenshots, "2-incidents")
    page.locator("li.incident", has_text="Trains stuck at Central").get_by_role(
        "link", name="Review draft"
    ).click()

    # the editor counts as Mastodon does: 23 for a link, so red only when really over
    masto = page.get_by_label("Text for Mastodon", exact=True)
    counter = page.locator('[data-counter="masto:en"]')
    original = masto.input_value()
    expect(counter).not_to_have_class(re.compile(r"\bover\b"))
    masto.fill("Trains are held at Central. " + "x" * 470 + " https://status.example/" + "y" * 300)
    expect(counter).to_have_text("22 over · 522 / 500 characters")
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    expect(page.locator('[data-preview="masto:en"] [data-preview-host]')).to_have_text(
        "status.example"
    )
    shoot(page, screenshots, "3-draft-over-the-limit")
    masto.fill(original)
    expect(counter).not_to_have_class(re.compile(r"\bover\b"))
    expect(counter).to_have_text(re.compile(r"^\d+ / 500 characters$"))

    page.get_by_role("button", name="Approve selected channels").focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(page.locator(".flash")).to_contain_text("Approved for ")

    deliveries = page.locator("#deliveries")
    expect(deliveries.locator('[data-channel="status"]')).to_have_attribute(
        "data-state", "published", timeout=30_000
    )
    expect(deliveries.locator('[data-channel="status"]')).to_contain_text("published")
    dead = deliveries.locator('[data-channel="masto-old"]')
    expect(dead).to_have_attribute("data-state", "failed", timeout=30_000)
    expect(dead).to_contain_text("dead")
    expect(dead).to_contain_text("The platform said:")
    expect(deliveries.locator('[data-channel="masto"]')).to_have_attribute(
        "data-state", "published", timeout=30_000
    )
    expect(deliveries).to_have_attribute("data-done", "true")
    shoot(page, screenshots, "4-draft-delivered")
    assert len(peer.posts) == 1

    status = httpx.get(f"{planb.publisher}/status.json", timeout=10).json()
    assert "Trains stuck at Central" in json.dumps(status)

    page.goto(f"{planb.router}/console/incidents/{incident_id}")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("delivery.published")
    expect(page.locator(".audit")).to_contain_text("draft.approved")
    shoot(page, screenshots, "5-incident-timeline")
    context.close()


def test_the_red_button_pauses_every_marketing_channel(
    system: tuple[System, MastodonPeer], browser: Any, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    planb, _ = system
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = httpx.post(
        f"{planb.router}/v1/marketing/posts",
        headers=planb.auth("marketing"),
        json={"channel_id": "masto", "text": "20% off weekend returns!", "publish_at": soon},
        timeout=10,
    )
    assert scheduled.status_code == 201, scheduled.text
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, planb)
    page.get_by_role("link", name="Marketing", exact=True).click()
    expect(page.get_by_role("heading", name="Marketing board")).to_be_visible()
    shoot(page, screenshots, "6-marketing-board")

    button = page.get_by_role("button", name="Pause all marketing")
    page.get_by_label("Reason (shown on every channel's pause)").fill("Storm warning")
    button.click()  # not confirmed yet: the browser keeps the form
    expect(page).to_have_url(f"{planb.router}/console/marketing")
    page.get_by_label(re.compile("Yes, pause marketing on all 2 marketing channels")).check()
    button.click()
    expect(page.locator(".flash")).to_contain_text(
        "Marketing paused on 2 channels (promo-north, masto); 1 scheduled posts held."
    )
    expect(page.locator("ul.held")).to_contain_text("20% off weekend returns!")
    expect(page.get_by_label("This post")).to_be_visible()
    for channel in ("promo-north", "masto"):
        card = page.locator(f'li.channel[data-channel="{channel}"]')
        expect(card).to_contain_text("PAUSED")
        expect(card).to_contain_text("by hand: Storm warning (paused by dana)")
    expect(page.locator('li.channel[data-channel="status"]')).to_contain_text("NO MARKETING")
    shoot(page, screenshots, "7-marketing-paused")

    channels = httpx.get(
        f"{planb.router}/v1/channels", headers=planb.auth("duty_manager"), timeout=10
    ).json()
    assert {c["id"]: c["paused"] for c in channels} == {
        "status": False,
        "promo-north": True,
        "masto": True,
        "masto-old": False,
    }
    context.close()
