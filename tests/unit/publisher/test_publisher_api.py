"""The publisher's routes over ASGI, on a real database filled by the real handlers."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from publisher_harness import Publisher

from services.publisher.channels import ChannelRegistry, load_registry
from services.publisher.components import ComponentsFile
from services.publisher.dispatch import Dispatcher
from services.publisher.main import create_app
from services.publisher.models import Base
from services.publisher.schedule import RetryPolicy
from services.publisher.settings import PublisherSettings
from shared.contract.events import (
    ChannelPaused,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    PublishRequestedV2,
    Severity,
    utcnow,
)
from shared.runtime.service import Runtime
from shared.web.auth import TokenStore, generate_dev_tokens

CHANNELS_YAML = """
channels:
  - id: status
    type: statuspage
    name: Status page
    languages: [en, fr, nl]
  - id: masto
    type: mastodon
    name: Mastodon
    marketing: true
"""


@pytest.fixture
def api_settings(settings: PublisherSettings, tmp_path: Path) -> PublisherSettings:
    (tmp_path / "channels.yaml").write_text(CHANNELS_YAML)
    return settings.model_copy(update={"channels_file": tmp_path / "channels.yaml"})


@pytest.fixture
async def runtime(api_settings: PublisherSettings) -> AsyncIterator[Runtime]:
    """A runtime that is never started: the routes need its database, not Kafka."""
    runtime = Runtime(api_settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    yield runtime
    await runtime.database.dispose()


@pytest.fixture
def token(api_settings: PublisherSettings) -> str:
    return generate_dev_tokens(api_settings.data_dir)["marketing"]


@pytest.fixture
def channels(api_settings: PublisherSettings) -> ChannelRegistry:
    return load_registry(api_settings)


@pytest.fixture
async def client(
    api_settings: PublisherSettings, runtime: Runtime, channels: ChannelRegistry, token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as its lifespan would wire it, minus Kafka."""
    app = create_app(api_settings)
    app.state.settings = api_settings
    app.state.tokens = TokenStore.from_file(api_settings.resolved_tokens_file())
    app.state.channels = channels
    app.state.components = ComponentsFile()
    app.state.runtime = runtime
    app.state.dispatcher = Dispatcher(
        runtime.database, channels, runtime.topics, lambda: None, policy=RetryPolicy()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://publisher") as client:
        yield client


@pytest.fixture
def live(runtime: Runtime, channels: ChannelRegistry) -> Publisher:
    return Publisher(runtime.database, channels, runtime.topics)


def update(
    message_id: str, status: IncidentStatus, text: str, *, languages: list[str] | None = None
) -> PublishRequested:
    if languages is not None:
        return PublishRequestedV2(
            **update(message_id, status, text).model_dump(), languages=languages
        )
    return PublishRequested(
        message_id=message_id,
        channel_id="status",
        kind=MessageKind.STATUS_UPDATE,
        text=text,
        incident=IncidentRef(
            incident_id="inc_42",
            title="Lifts out of service",
            severity=Severity.SEV3,
            status=status,
        ),
        requested_at=utcnow(),
    )


async def test_status_json_lists_updates_newest_first(
    live: Publisher, client: httpx.AsyncClient
) -> None:
    await live.handle(update("m1", IncidentStatus.INVESTIGATING, "Looking into it."))
    await live.handle(update("m2", IncidentStatus.RESOLVED, "Lifts are back."))

    response = await client.get("/status.json")

    assert response.status_code == 200
    body = response.json()
    assert body["operational"] is True
    [incident] = body["incidents"]
    assert (incident["incident_id"], incident["status"], incident["url"]) == (
        "inc_42",
        "resolved",
        "https://status.example.test/status#inc_42",
    )
    assert [u["text"] for u in incident["updates"]] == ["Lifts are back.", "Looking into it."]


async def test_control_characters_reach_no_published_page(
    live: Publisher, client: httpx.AsyncClient
) -> None:
    """Found by the security review: only the Atom feed filtered them; /status and
    /status.json showed a form feed, an ANSI escape and U+FFFE as they came."""
    await live.handle(
        update("m1", IncidentStatus.INVESTIGATING, "Lifts\x0c \x1b[31mstopped\ufffe.")
    )
    pages = [await client.get(path) for path in ("/status", "/status.json", "/status/feed.atom")]
    for page in pages:
        assert "Lifts stopped." in page.text
        assert not any(c in page.text for c in "\x0c\x1b\ufffe"), page.url
    assert "\\u001b" not in pages[1].text  # nor escaped in the JSON


async def test_status_page_and_feed_are_public_with_their_media_types(
    live: Publisher, client: httpx.AsyncClient
) -> None:
    await live.handle(update("m1", IncidentStatus.INVESTIGATING, "Looking into it."))

    page = await client.get("/status")
    feed = await client.get("/status/feed.atom")

    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "Lifts out of service" in page.text
    assert "All systems operational" not in page.text
    assert (feed.status_code, feed.headers["content-type"]) == (
        200,
        "application/atom+xml; charset=utf-8",
    )
    assert "<id>urn:planb:message:m1</id>" in feed.text
    assert "<id>https://status.example.test/status/feed.atom</id>" in feed.text


async def test_deliveries_need_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/deliveries")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_deliveries_filter_by_message(
    live: Publisher, client: httpx.AsyncClient, token: str
) -> None:
    await live.handle(update("m1", IncidentStatus.INVESTIGATING, "Looking into it."))
    await live.handle(update("m2", IncidentStatus.IDENTIFIED, "Found it."))

    response = await client.get(
        "/v1/deliveries", params={"message_id": "m2"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    [delivery] = response.json()
    assert (delivery["message_id"], delivery["state"], delivery["incident_id"]) == (
        "m2",
        "published",
        "inc_42",
    )


async def test_channel_health_counts_outcomes_and_shows_pauses(
    live: Publisher, client: httpx.AsyncClient, token: str
) -> None:
    await live.handle(update("m1", IncidentStatus.INVESTIGATING, "Looking into it."))
    await live.handle(
        update("m2", IncidentStatus.IDENTIFIED, "Found it.").model_copy(
            update={"channel_id": "masto"}
        )
    )
    await live.handle(ChannelPaused(channel_id="masto", reason="sev1", paused_at=utcnow()))

    response = await client.get("/v1/channels/health", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    health = {c["id"]: c for c in response.json()}
    assert {k: health["status"][k] for k in ("adapter", "paused", "published", "failed")} == {
        "adapter": True,
        "paused": False,
        "published": 1,
        "failed": 0,
    }
    assert {k: health["masto"][k] for k in ("adapter", "paused", "pause_reason", "failed")} == {
        "adapter": False,
        "paused": True,
        "pause_reason": "sev1",
        "failed": 1,
    }
    assert (health["status"]["breaker"], health["status"]["consecutive_failures"]) == ("closed", 0)


async def test_the_status_page_shows_each_incidents_newest_updates_and_deliveries_are_paged(
    live: Publisher, client: httpx.AsyncClient, token: str
) -> None:
    """An incident's updates grew without bound on the public pages, deliveries had no cursor."""
    for n in range(30):
        await live.handle(update(f"m{n:02}", IncidentStatus.INVESTIGATING, f"Update {n}."))
    [incident] = (await client.get("/status.json")).json()["incidents"]
    assert [u["text"] for u in incident["updates"]] == [f"Update {n}." for n in range(29, 4, -1)]
    oldest_shown = incident["updates"][-1]["published_at"]
    assert incident["first_published_at"] < oldest_shown  # still the first update's time
    seen: list[str] = []
    url = "/v1/deliveries?limit=7"
    while url:
        page = await client.get(url, headers=auth(token))
        assert len(page.json()) <= 7
        seen += [d["message_id"] for d in page.json()]
        url = page.links.get("next", {}).get("url", "")
    assert sorted(seen) == [f"m{n:02}" for n in range(30)]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_status_page_in_french_with_accept_language_fr(
    live: Publisher, client: httpx.AsyncClient
) -> None:
    await live.handle(update("m-en", IncidentStatus.IDENTIFIED, "Lifts are out.", languages=["en"]))
    await live.handle(
        update("m-fr", IncidentStatus.IDENTIFIED, "Ascenseurs à l'arrêt.", languages=["fr"])
    )
    french = {"Accept-Language": "fr-BE,fr;q=0.9,en;q=0.5"}

    page = await client.get("/status", headers=french)
    as_json = await client.get("/status.json", headers=french)
    feed = await client.get("/status/feed.atom", headers=french)
    english = await client.get("/status")
    dutch = await client.get("/status?lang=nl", headers=french)  # the switch beats the browser

    assert page.headers["content-language"] == "fr"
    assert "accept-language" in page.headers["vary"].lower()
    assert '<html lang="fr">' in page.text
    assert "Ascenseurs à l&#39;arrêt." in page.text
    assert "Lifts are out." not in page.text
    assert "Nous traitons 1 incident(s) en cours." in page.text
    assert "cause identifiée" in page.text
    assert '<a href="https://status.example.test/status?lang=nl" hreflang="nl" lang="nl">' in (
        page.text
    )
    assert 'aria-current="page">français</a>' in page.text
    assert [u["text"] for u in as_json.json()["incidents"][0]["updates"]] == [
        "Ascenseurs à l'arrêt."
    ]
    assert as_json.json()["language"] == "fr"
    assert 'xml:lang="fr"' in feed.text
    assert "Lifts out of service — cause identifiée</title>" in feed.text
    assert "<id>https://status.example.test/status/feed.atom?lang=fr</id>" in feed.text
    assert '<html lang="en">' in english.text
    assert "Lifts are out." in english.text
    assert "Ascenseurs" not in english.text
    # no Dutch update yet: the main language's, marked as English, under Dutch words
    assert '<html lang="nl">' in dutch.text
    assert 'lang="en"><strong>oorzaak gevonden</strong>' in dutch.text
    assert "Lifts are out." in dutch.text
