"""Drafts sized for each channel: shortened at a word with the link kept whole, the cut
recorded, and a duty manager's edit checked against the channel's limit."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from services.router import approvals
from services.router.context import RouterContext
from services.router.draft_queue import write_requested_drafts
from services.router.drafting import tidy
from services.router.fitting import _GraphemeHeads, channel_limit, fit
from services.router.incidents import draft_update, incident_handlers
from services.router.main import create_app
from services.router.models import Base, Draft, DraftText, Incident
from services.router.policy import Policy
from services.router.settings import RouterSettings
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.errors import Rejected
from shared.contract.events import CloudEvent, IncidentRaised, Severity
from shared.contract.textlength import graphemes, limit_for, x_weighted_length
from shared.contract.topics import Topics
from shared.runtime.database import Database
from shared.runtime.service import Runtime
from shared.web.auth import Principal, Role, TokenStore, generate_dev_tokens

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
LINK = "https://status.example/status#inc_long"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
DUTY = Principal.of("dm", Role.DUTY_MANAGER)
CHANNELS = [
    ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status"),
    ChannelConfig(id="x", type=ChannelType.X, name="X"),
    ChannelConfig(id="sky", type=ChannelType.BLUESKY, name="Bluesky"),
    ChannelConfig(id="sms", type=ChannelType.WEBHOOK, name="SMS gateway", counting="sms"),
]
LONG_TITLE = "Signal failure between Central and Airport " + "with knock-on delays " * 12


def test_a_text_that_fits_is_left_alone() -> None:
    drafted = fit(f"Trains are held. {LINK}", limit_for("x"), keep=LINK)

    assert (drafted.text, drafted.length, drafted.limit, drafted.cut_chars) == (
        f"Trains are held. {LINK}",
        17 + 23,
        280,
        0,
    )


def test_shortening_cuts_at_a_word_keeps_the_link_and_says_by_how_much() -> None:
    text = "Trains are held at Central while engineers fix a signal. " * 8 + LINK

    drafted = fit(text, limit_for("x"), keep=LINK)

    assert drafted.text.endswith(f"\u2026 {LINK}")
    head = drafted.text.removesuffix(f"\u2026 {LINK}")
    assert text.startswith(head + " ")  # cut where a word ends
    assert head[-1].isalpha()
    assert drafted.length == x_weighted_length(drafted.text) <= 280
    assert drafted.length > 280 - len("Central ")  # and no shorter than it has to be
    assert drafted.cut_chars == len(text) - len(LINK) - 1 - len(head)
    assert drafted.cut_chars > 0


def test_a_link_in_the_middle_ends_up_whole_at_the_end() -> None:
    text = f"Details at {LINK} and the long story: " + "word " * 80

    drafted = fit(text, limit_for("bluesky", max_chars=100), keep=LINK)

    assert drafted.text.endswith(f"\u2026 {LINK}")
    assert drafted.text.count(LINK) == 1
    assert drafted.length == graphemes(drafted.text) <= 100


def test_emoji_are_never_split_and_a_single_long_word_is_cut_between_graphemes() -> None:
    text = FAMILY * 400 + " " + LINK

    drafted = fit(text, limit_for("bluesky"), keep=LINK)

    assert drafted.text == FAMILY * (300 - 2 - graphemes(LINK)) + f"\u2026 {LINK}"
    assert drafted.length == 300
    assert drafted.cut_chars == 400 - (300 - 2 - graphemes(LINK))


def test_grapheme_heads_slice_like_the_sequence_they_claim_to_be() -> None:
    """A slice once indexed the text with a list (TypeError); mypy caught the override."""
    heads = _GraphemeHeads(f"a{FAMILY}b")
    assert list(heads) == ["", "a", f"a{FAMILY}"]
    assert heads[1:] == ["a", f"a{FAMILY}"]
    assert heads[-1] == f"a{FAMILY}"


def test_sms_is_shortened_with_a_gsm7_ellipsis_so_it_keeps_160() -> None:
    text = "Trains held at Central. " * 10 + LINK

    drafted = fit(text, limit_for("webhook", counting="sms"), keep=LINK)

    assert drafted.text.endswith(f"... {LINK}")
    assert (drafted.limit, drafted.length) == (160, len(drafted.text))
    assert drafted.length > 150


def test_tidy_joins_lines_into_paragraphs() -> None:
    rendered = "  One\ntwo  three\n\n\n- item\n- other\n\nend \n"

    assert tidy(rendered) == "One two three\n\n- item\n- other\n\nend"


def router_context() -> RouterContext:
    return RouterContext(
        topics=Topics("planb"),
        channels=CHANNELS,
        policy=Policy(),
        zone=ZoneInfo("UTC"),
        public_base_url="http://status.example",
        wake_relay=lambda: None,
        clock=lambda: NOW,
    )


async def raise_incident(ctx: RouterContext, db: Database, incident_id: str, title: str) -> str:
    raised = IncidentRaised(
        incident_id=incident_id,
        title=title[:200],
        severity=Severity.SEV3,
        started_at=NOW,
        customer_impact=title,
        raised_by="op",
        raised_at=NOW,
    )
    async with db.transaction() as session:
        await incident_handlers(ctx)[raised.event_type](
            CloudEvent.wrap(raised, source="/tests", id=str(uuid.uuid4())), session
        )
    await write_requested_drafts(ctx, db)
    async with db.sessions() as session:
        return (
            await session.scalars(select(Draft.id).where(Draft.incident_id == incident_id))
        ).one()


async def test_drafts_record_length_limit_and_the_cut(db: Database) -> None:
    ctx = router_context()
    draft_id = await raise_incident(ctx, db, "inc_long", LONG_TITLE)

    async with db.sessions() as session:
        texts = {t.channel_id: t for t in await approvals.texts_of(session, draft_id)}
    assert (texts["status"].length, texts["status"].limit) == (len(texts["status"].text), 5000)
    assert texts["status"].cut_chars == 0
    for channel_id, limit in (("x", 280), ("sky", 300), ("sms", 160)):
        row = texts[channel_id]
        assert row.limit == limit
        assert row.length <= limit
        assert row.cut_chars > 0
        assert row.text.endswith(ctx.incident_link("inc_long"))


async def test_holding_drafts_use_the_holding_template(db: Database) -> None:
    ctx = router_context()
    await raise_incident(ctx, db, "inc_hold", "Lifts out of order")

    async with db.transaction() as session:
        incident = await session.get(Incident, "inc_hold")
        assert incident is not None
        draft = await draft_update(
            ctx, session, incident, cause_id="hold-1", message=None, holding=True
        )
        texts = await approvals.texts_of(session, draft.id)
    assert {t.channel_id for t in texts} == {"status", "x", "sky", "sms"}
    assert all("still working on it" in t.text.lower() for t in texts)


async def test_an_edit_over_the_limit_is_refused_with_the_figures(db: Database) -> None:
    ctx = router_context()
    draft_id = await raise_incident(ctx, db, "inc_edit", "Lifts out of order")

    with pytest.raises(
        Rejected, match=r"290 weighted characters .* limit is 280, so it is 10 over"
    ):
        async with db.transaction() as session:
            await approvals.edit_text(
                ctx, session, draft_id=draft_id, channel_id="x", text="運" * 145, by=DUTY
            )
    async with db.transaction() as session:
        await approvals.edit_text(
            ctx, session, draft_id=draft_id, channel_id="x", text="運" * 140, by=DUTY
        )
    async with db.sessions() as session:
        row = (
            await session.scalars(
                select(DraftText).where(DraftText.draft_id == draft_id, DraftText.channel_id == "x")
            )
        ).one()
    assert (row.length, row.limit, row.cut_chars, row.edited_by) == (280, 280, 0, "dm")


@pytest.fixture
async def api(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Database, dict[str, str]]]:
    settings = RouterSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        topic_prefix="t",
        config_dir=tmp_path,
    )
    tokens = generate_dev_tokens(tmp_path)
    runtime = Runtime(settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    app = create_app(settings)
    app.state.settings = settings
    app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
    app.state.runtime = runtime
    app.state.context = router_context()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        yield client, runtime.database, {"Authorization": f"Bearer {tokens['duty_manager']}"}
    await runtime.database.dispose()


async def test_patch_over_the_limit_is_a_422_problem_with_count_limit_and_rule(
    api: tuple[httpx.AsyncClient, Database, dict[str, str]],
) -> None:
    client, db, auth = api
    draft_id = await raise_incident(router_context(), db, "inc_api", LONG_TITLE)
    listed = (
        await client.get("/v1/drafts", params={"incident_id": "inc_api"}, headers=auth)
    ).json()
    sky = next(t for t in listed[0]["texts"] if t["channel_id"] == "sky")
    assert sky["limit"] == 300
    assert sky["cut_chars"] > 0
    assert sky["length"] == graphemes(sky["text"])

    too_long = "Trains are held at Central; please use the buses. " * 3 + "Sorry!"  # 156: one SMS
    too_long += " Kraków"  # ó is outside GSM-7: now one SMS holds 70 UCS-2 code units
    response = await client.patch(
        f"/v1/drafts/{draft_id}", json={"channel_id": "sms", "text": too_long}, headers=auth
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Text too long"
    assert (problem["length"], problem["limit"], problem["over"]) == (163, 70, 93)
    assert problem["unit"] == "UCS-2 code units"
    assert "163 UCS-2 code units" in problem["detail"]
    assert "70 UCS-2 code units once any character is outside GSM-7" in problem["detail"]

    fitting = "Trains are held at Central; please use the buses."
    response = await client.patch(
        f"/v1/drafts/{draft_id}", json={"channel_id": "sms", "text": fitting}, headers=auth
    )
    assert response.status_code == 200, response.text
    sms = next(t for t in response.json()["texts"] if t["channel_id"] == "sms")
    assert (sms["text"], sms["length"], sms["limit"], sms["cut_chars"]) == (fitting, 49, 160, 0)


def test_a_channel_with_its_own_max_chars_counts_against_it() -> None:
    mastodon = ChannelConfig(id="m", type=ChannelType.MASTODON, name="M", max_chars=11000)

    drafted = fit("word " * 3000 + LINK, channel_limit(mastodon), keep=LINK)

    assert (drafted.limit, drafted.text.endswith(LINK)) == (11000, True)
    assert 11000 - len("word ") <= drafted.length <= 11000
