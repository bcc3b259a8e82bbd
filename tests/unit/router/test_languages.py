"""Drafts in each channel's languages: French and Dutch shipped and read as written by a
person, a missing translation standing in in the default language and saying so, each
language edited on its own, and a channel's languages posted as its platform suits."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.router import approvals
from services.router.drafting import DraftInput, builtin_drafter
from services.router.fitting import channel_limit
from services.router.models import DraftText, Incident
from services.router.multilingual import posts_for
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.errors import Rejected
from shared.contract.events import IncidentStatus, IncidentUpdated, PublishRequestedV2, Severity
from shared.runtime.database import Database
from shared.web.auth import Principal, Role
from tests.unit.router.approval_harness import Clock, deliver, pending, raised, router_context
from tests.unit.router.test_auto_approve import publish_requests

NOW = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")  # CEST in July: 09:30 UTC reads 11:30
LINK = "https://status.example/status#inc_1"
DM = Principal.of("dm", Role.DUTY_MANAGER)
OTHER_DM = Principal.of("dm2", Role.DUTY_MANAGER)  # four eyes: not who edited
THREE = ["en", "fr", "nl"]


def draft_input(status: str = "identified") -> DraftInput:
    incident = Incident(
        id="inc_1",
        title="Trains held outside the tunnel",
        severity="sev2",
        status=status,
        summary=None,
        customer_impact=None,
        services=["trains", "coaches", "ferries"],
        regions=[],
        next_update_at=NOW + timedelta(minutes=30),
        started_at=NOW,
    )
    return DraftInput(
        incident=incident,
        message="Engineers are on site.",
        link=LINK,
        zone=BRUSSELS,
        now=NOW,
    )


def texts(channel: ChannelConfig, status: str = "identified") -> dict[str, str]:
    drafted = builtin_drafter().draft_languages(draft_input(status), channel)
    assert all(not t.fallback for t in drafted)
    return {t.language: t.drafted.text for t in drafted}


def test_french_and_dutch_read_as_a_person_wrote_them() -> None:
    mastodon = ChannelConfig(id="m", type=ChannelType.MASTODON, name="M", languages=THREE)

    drafted = texts(mastodon)

    assert drafted["fr"] == (
        "Mise à jour : Trains held outside the tunnel. Nous avons trouvé la cause et nous "
        "travaillons à une solution. Services concernés : trains, coaches et ferries. "
        "Engineers are on site. Prévoyez un peu plus de temps. "
        "Prochaine mise à jour d'ici 11:30. " + LINK
    )
    assert drafted["nl"] == (
        "Update: Trains held outside the tunnel. We hebben de oorzaak gevonden en werken aan "
        "een oplossing. Getroffen: trains, coaches en ferries. Engineers are on site. Houd "
        "rekening met extra reistijd. Volgende update uiterlijk om 11:30. " + LINK
    )
    assert "Affected: trains, coaches and ferries." in drafted["en"]


@pytest.mark.parametrize("status", [s.value for s in IncidentStatus])
@pytest.mark.parametrize("channel_type", list(ChannelType))
def test_every_shipped_language_drafts_every_status_within_the_limit(
    channel_type: ChannelType, status: str
) -> None:
    channel = ChannelConfig(id="c", type=channel_type, name="C", languages=THREE)

    drafted = builtin_drafter().draft_languages(draft_input(status), channel)

    assert [t.language for t in drafted] == THREE
    assert len({t.drafted.text for t in drafted}) == 3  # three languages, three texts
    for text in drafted:
        assert text.template_language == text.language
        assert text.drafted.length <= text.drafted.limit
        assert text.drafted.text.endswith(LINK)


def test_sms_texts_stay_gsm7_in_french_and_dutch() -> None:
    sms = ChannelConfig(
        id="sms", type=ChannelType.WEBHOOK, name="SMS", counting="sms", languages=THREE
    )
    for status in [s.value for s in IncidentStatus]:
        for text in builtin_drafter().draft_languages(draft_input(status), sms):
            assert text.drafted.limit == 160, (status, text.language, text.drafted.text)


def test_a_missing_translation_falls_back_to_english_and_says_so() -> None:
    channel = ChannelConfig(id="x", type=ChannelType.X, name="X", languages=["fr", "de"])

    french, german = builtin_drafter().draft_languages(draft_input(), channel)

    assert (french.language, french.template_language, french.fallback) == ("fr", "fr", False)
    assert (german.language, german.template_language, german.fallback) == ("de", "en", True)
    assert german.drafted.text == builtin_drafter().draft(draft_input(), channel).text
    assert german.drafted.text  # never empty


def test_a_language_is_listed_once() -> None:
    with pytest.raises(ValueError, match="lists a language twice"):
        ChannelConfig(id="x", type=ChannelType.X, name="X", languages=["fr", "fr"])


CHANNELS = [
    ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status", languages=THREE),
    ChannelConfig(id="slack", type=ChannelType.SLACK, name="Slack", languages=["en", "fr"]),
    ChannelConfig(id="sky", type=ChannelType.BLUESKY, name="Bluesky", languages=THREE),
    ChannelConfig(id="x", type=ChannelType.X, name="X"),
]


async def test_each_language_is_drafted_edited_and_posted_as_its_platform_suits(
    db: Database,
) -> None:
    ctx = router_context(Clock(), channels=CHANNELS)
    title = "Signal failure between Folkestone and Calais: trains held outside the tunnel"
    await deliver(ctx, db, raised("inc_ml", Severity.SEV2).model_copy(update={"title": title}))
    draft = await pending(db, "inc_ml")
    async with db.sessions() as session:
        rows = await approvals.texts_of(session, draft.id)
    assert [(r.channel_id, r.language) for r in rows] == [
        *(("sky", lang) for lang in THREE),
        ("slack", "en"),
        ("slack", "fr"),
        *(("status", lang) for lang in THREE),
        ("x", "en"),
    ]

    async with db.transaction() as session:
        await approvals.edit_text(
            ctx,
            session,
            draft_id=draft.id,
            channel_id="sky",
            language="fr",
            text=f"Trains retenus devant le tunnel. {ctx.incident_link('inc_ml')}",
            by=DM,
        )
    async with db.transaction() as session:
        with pytest.raises(Rejected, match="no text for 'x' in 'fr'"):
            await approvals.edit_text(
                ctx, session, draft_id=draft.id, channel_id="x", language="fr", text="Hé", by=DM
            )
    async with db.transaction() as session:
        await approvals.approve(ctx, session, draft_id=draft.id, channel_ids=None, by=OTHER_DM)

    requests = await publish_requests(db, ctx)
    assert all(isinstance(r, PublishRequestedV2) for r in requests)
    posted = [(r.channel_id, r.languages) for r in requests]  # type: ignore[attr-defined]
    # the status page: one per language; Slack: both in one; Bluesky's three do not fit
    # in 300 graphemes: one each, in order (the publisher threads them); X: its one
    assert sorted(posted) == sorted(
        [
            *(("status", [lang]) for lang in THREE),
            ("slack", ["en", "fr"]),
            *(("sky", [lang]) for lang in THREE),
            ("x", ["en"]),
        ]
    )
    assert [langs for c, langs in posted if c == "sky"] == [["en"], ["fr"], ["nl"]]
    sky_fr = next(r for r in requests if r.channel_id == "sky" and r.languages == ["fr"])  # type: ignore[attr-defined]
    assert sky_fr.text.startswith("Trains retenus devant le tunnel.")
    slack = next(r for r in requests if r.channel_id == "slack")
    english, french = slack.text.split("\n\nNous analysons un problème")
    assert english.startswith("We're looking into a problem")
    assert "Zone concernée : north. Prévoyez un peu plus de temps." in french
    assert len({r.message_id for r in requests}) == len(requests)
    async with db.sessions() as session:
        carried = await session.scalars(
            select(DraftText.channel_id).where(DraftText.message_id.is_not(None))
        )
        assert sorted(carried) == sorted(["status"] * 3 + ["sky"] * 3 + ["slack", "x"])


async def test_an_update_reaches_every_language(db: Database) -> None:
    ctx = router_context(Clock(), channels=CHANNELS)
    await deliver(ctx, db, raised("inc_up", Severity.SEV3))
    update = IncidentUpdated(
        incident_id="inc_up",
        status=IncidentStatus.IDENTIFIED,
        message="A signalling fault at Folkestone.",
        updated_by="op",
        updated_at=datetime.now(UTC),
    )
    await deliver(ctx, db, update)
    draft = await pending(db, "inc_up")
    async with db.sessions() as session:
        rows = await approvals.texts_of(session, draft.id)

    assert len(rows) == 9
    assert all("A signalling fault at Folkestone." in row.text for row in rows)


def test_one_post_carries_every_language_when_they_fit_the_link_once() -> None:
    rows = [
        DraftText(channel_id="sky", language=lang, text=f"{text} {LINK}")
        for lang, text in (("en", "Trains held."), ("fr", "Trains retenus."))
    ]
    sky = ChannelConfig(id="sky", type=ChannelType.BLUESKY, name="B", languages=["en", "fr"])
    tiny = sky.model_copy(update={"max_chars": 60})

    (together,) = posts_for(sky, rows, link=LINK)
    apart = posts_for(tiny, rows, link=LINK)

    assert together.text == f"Trains held.\n\nTrains retenus. {LINK}"
    assert together.languages == ["en", "fr"]
    assert [(p.languages, p.text) for p in apart] == [
        (["en"], f"Trains held. {LINK}"),
        (["fr"], f"Trains retenus. {LINK}"),
    ]


PLATFORMS = [
    *(ChannelConfig(id=f"c-{t.value}", type=t, name=t.value, languages=THREE) for t in ChannelType),
    ChannelConfig(id="sms", type=ChannelType.WEBHOOK, name="SMS", counting="sms", languages=THREE),
]


@pytest.mark.parametrize("status", ["investigating", "resolved"])
@pytest.mark.parametrize("channel", PLATFORMS, ids=lambda c: c.id)
def test_each_platform_posts_its_languages_within_its_limit(
    channel: ChannelConfig, status: str
) -> None:
    """One post when all three fit together as the platform counts, else one each; the
    status page always one each (it serves each language on its own page)."""
    drafted = builtin_drafter().draft_languages(draft_input(status), channel)
    rows = [
        DraftText(channel_id=channel.id, language=t.language, text=t.drafted.text) for t in drafted
    ]
    limit = channel_limit(channel)

    posts = posts_for(channel, rows, link=LINK)

    assert all(limit.measure(post.text).fits for post in posts)
    assert [lang for post in posts for lang in post.languages] == THREE
    together = limit.measure("\n\n".join(row.text for row in rows)).fits
    if channel.type is ChannelType.STATUSPAGE or channel.counting == "sms":
        assert len(posts) == 3
    elif together:
        assert len(posts) == 1
    assert all(post.text.count(LINK) >= 1 for post in posts)  # every post leads to the page
