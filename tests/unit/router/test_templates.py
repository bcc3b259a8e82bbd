"""Draft templates: every status (and the holding update) for every channel type, the
operator's folder over the built-in set, and a broken template stopping the router."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.router.drafting import Drafter, DraftInput, builtin_drafter, load_drafter
from services.router.fitting import channel_limit
from services.router.main import bootstrap
from services.router.models import Base, Incident
from services.router.settings import RouterSettings
from services.router.templates import BUILTIN_DIR
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.config_files import ConfigFileError
from shared.contract.events import IncidentStatus
from shared.runtime.service import Runtime

NOW = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")  # BST in July: 14:30 UTC reads 15:30
LINK = "https://status.example.com/status#inc_01J9ZQ4K7V"
CHANNELS = [ChannelConfig(id=f"c-{t.value}", type=t, name=t.value) for t in ChannelType]
SMS = ChannelConfig(id="sms", type=ChannelType.WEBHOOK, name="SMS", counting="sms")
KINDS = [*(s.value for s in IncidentStatus), "holding"]
SHORT = {ChannelType.X, ChannelType.BLUESKY}


def incident(status: str = "investigating", severity: str = "sev2") -> Incident:
    return Incident(
        id="inc_01J9ZQ4K7V",
        title="Signal failure at Central",
        severity=severity,
        status=status,
        summary=None,
        customer_impact="Trains between Central and Airport are held",
        services=["trains"],
        regions=["north", "east-coast"],
        next_update_at=None if status == "resolved" else NOW + timedelta(minutes=30),
        started_at=NOW - timedelta(minutes=10),
    )


def draft_for(
    channel: ChannelConfig, kind: str, severity: str = "sev2", drafter: Drafter | None = None
) -> str:
    """The built-in (or `drafter`'s) text, which must fit without cutting (but one SMS
    may lose the end of the customer impact: the operator's message comes first)."""
    status = "investigating" if kind == "holding" else kind
    draft_input = DraftInput(
        incident=incident(status, severity),
        message="Engineers are on site",
        link=LINK,
        zone=LONDON,
        now=NOW,
        holding=kind == "holding",
    )
    drafted = (drafter or builtin_drafter()).draft(draft_input, channel)
    if channel.counting == "sms" and drafted.cut_chars:
        assert "Engineers are on site." in drafted.text or kind == "holding"
    else:
        assert drafted.cut_chars == 0
    return drafted.text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel", [*CHANNELS, SMS], ids=lambda c: c.id)
def test_every_status_drafts_for_every_channel_within_its_limit(
    channel: ChannelConfig, kind: str
) -> None:
    text = draft_for(channel, kind)

    assert text.endswith(LINK)
    assert "Signal failure at Central." in text
    assert channel_limit(channel).measure(text).fits
    assert "{" not in text
    assert "  " not in text
    if kind == "resolved":
        assert text.startswith("Resolved: Signal failure at Central.")
        assert "Next update" not in text
    else:
        assert "Next update by 15:30." in text
    if kind == "holding":
        assert "still working on it" in text.lower()


@pytest.mark.parametrize("kind", KINDS)
def test_short_channels_get_the_short_text_and_long_ones_the_details(kind: str) -> None:
    texts = {c.type: draft_for(c, kind) for c in CHANNELS}

    for channel_type in SHORT:
        assert len(texts[channel_type]) < len(texts[ChannelType.MASTODON])
        assert "Affected" not in texts[channel_type]
    for channel_type in (ChannelType.TELEGRAM, ChannelType.SLACK, ChannelType.WEBHOOK):
        assert texts[channel_type] == texts[ChannelType.STATUSPAGE]
    if kind != "resolved":
        assert "Affected: trains (north and east coast)." in texts[ChannelType.SLACK]
    assert len(draft_for(SMS, kind)) <= len(texts[ChannelType.X])


def test_the_texts_read_as_a_person_wrote_them() -> None:
    x, slack = CHANNELS[3], CHANNELS[5]

    assert draft_for(x, "investigating") == (
        "We're looking into a problem: Signal failure at Central. Engineers are on site. "
        f"Trains between Central and Airport are held. Next update by 15:30. {LINK}"
    )
    assert draft_for(slack, "investigating", severity="sev1") == (
        "Major disruption: Signal failure at Central. We're working on it now. "
        "Engineers are on site.\n\n"
        "Affected: trains (north and east coast). Trains between Central and Airport are held. "
        "Please allow extra time.\n\n"
        f"Next update by 15:30. Details: {LINK}"
    )
    assert draft_for(x, "holding") == (
        "Still working on it: Signal failure at Central. No news yet, sorry. "
        f"Trains between Central and Airport are held. Next update by 15:30. {LINK}"
    )


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_operators_templates_win_and_the_rest_fall_back(tmp_path: Path) -> None:
    operator = tmp_path / "mine"
    write(operator, "x/investigating.j2", "X: {{ title }} {{ link }}")
    write(operator, "channels/c-slack/investigating.j2", "Team: {{ title }} {{ link }}")
    write(operator, "investigating.sev3.j2", "Minor: {{ title }} {{ link }}")
    write(
        operator, "_next.j2", "{% if next_update %}\nBack to you by {{ next_update }}.\n{% endif %}"
    )
    drafter = load_drafter(operator, tmp_path / "no-config", [*CHANNELS, SMS])
    x, mastodon, slack = CHANNELS[3], CHANNELS[1], CHANNELS[5]

    assert draft_for(x, "investigating", drafter=drafter) == f"X: Signal failure at Central {LINK}"
    assert draft_for(slack, "investigating", drafter=drafter).startswith("Team: ")
    assert draft_for(mastodon, "investigating", "sev3", drafter).startswith("Minor: ")
    assert draft_for(x, "investigating", "sev3", drafter).startswith("X: ")  # type beats severity
    holding = draft_for(mastodon, "holding", drafter=drafter)
    assert holding.startswith("We're still working on it")  # built-in, through the fallback
    assert "Back to you by 15:30." in holding  # the operator's piece inside a built-in


def test_the_built_in_set_is_found_wherever_templates_dir_points(tmp_path: Path) -> None:
    drafter = load_drafter(tmp_path / "absent", tmp_path / "elsewhere", CHANNELS)

    assert draft_for(CHANNELS[1], "monitoring", drafter=drafter) == draft_for(
        CHANNELS[1], "monitoring"
    )
    assert BUILTIN_DIR.joinpath("holding.j2").is_file()


def test_a_template_that_does_not_parse_stops_the_start_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path, "slack/resolved.j2", "Fixed.\n{% if impact %}{{ impact }}\n")

    with pytest.raises(ConfigFileError, match=r"slack/resolved\.j2:2: template does not parse"):
        load_drafter(tmp_path, tmp_path, CHANNELS)


def test_an_unknown_variable_stops_the_start_naming_file_and_channel(tmp_path: Path) -> None:
    write(tmp_path, "bluesky/holding.j2", "Still on it: {{ titel }} {{ link }}")

    with pytest.raises(
        ConfigFileError, match=r"bluesky/holding\.j2: cannot render for channel 'c-bluesky'.*titel"
    ):
        load_drafter(tmp_path, tmp_path, CHANNELS)


def test_bootstrap_refuses_a_broken_operator_template(tmp_path: Path) -> None:
    write(tmp_path, "channels.yaml", "channels:\n  - {id: status, type: statuspage, name: S}\n")
    write(tmp_path, "templates/investigating.j2", "{{ title ")
    settings = RouterSettings(
        environment="test", data_dir=tmp_path, config_dir=tmp_path, topic_prefix="t"
    )
    runtime = Runtime(settings, metadata=Base.metadata)

    with pytest.raises(ConfigFileError, match=r"templates/investigating\.j2:1"):
        bootstrap(settings, runtime)


def test_drafting_for_all_channels_at_once_gives_each_the_text_drafting_one_would(
    tmp_path: Path,
) -> None:
    """A template that reads `channel` (here through an include) is rendered per channel,
    the others once for every channel they serve."""
    write(tmp_path, "_who.j2", "for {{ channel.name }}")
    write(
        tmp_path, "slack/investigating.j2", "Team {% include '_who.j2' %}: {{ title }} {{ link }}"
    )
    write(tmp_path, "x/investigating.j2", "{{ title }} and more words to cut. {{ link }}")
    many = [ChannelConfig(id=f"s{n}", type=ChannelType.SLACK, name=f"S{n}") for n in range(3)]
    narrow = [
        ChannelConfig(id=f"x{n}", type=ChannelType.X, name="X", max_chars=n) for n in (40, 40, 60)
    ]
    channels = [*CHANNELS, SMS, *many, *narrow]
    drafter = load_drafter(tmp_path, tmp_path / "no-config", channels)
    draft_input = DraftInput(
        incident=incident(), message="On site", link=LINK, zone=LONDON, now=NOW
    )
    assert drafter.draft_all(draft_input, channels) == {
        (c.id, text.language): text
        for c in channels
        for text in drafter.draft_languages(draft_input, c)
    }
    assert drafter.draft_all(draft_input, many)["s1", "en"].drafted.text.startswith("Team for S1: ")
    assert drafter.reads_channel(drafter.template_for("investigating", "sev2", many[0]))
    assert not drafter.reads_channel(drafter.template_for("investigating", "sev2", narrow[0]))
