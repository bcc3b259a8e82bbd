"""The status page's HTML and Atom renderings: hostile text stays text, the feed stays valid."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.publisher.pages import render_atom, render_status_html
from services.publisher.schemas import IncidentOut, StatusBoard, StatusUpdateOut
from services.publisher.settings import PublisherSettings
from shared.contract.events import IncidentStatus, Severity

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = '<script>alert("title")</script> & friends'
HOSTILE_TEXT = "Delays </content><script>alert('x')</script>\x07 & ]]> <b>bold</b>"
FIRST = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATEST = datetime(2025, 3, 1, 9, 45, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def board(*incidents: IncidentOut) -> StatusBoard:
    return StatusBoard(
        title="Rail status",
        url="https://status.example.test/status",
        operational=all(i.status is IncidentStatus.RESOLVED for i in incidents),
        generated_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        incidents=list(incidents),
    )


def hostile_incident() -> IncidentOut:
    return IncidentOut(
        incident_id="inc_1",
        title=HOSTILE_TITLE,
        severity=Severity.SEV1,
        status=IncidentStatus.IDENTIFIED,
        url="https://status.example.test/status#inc_1",
        first_published_at=FIRST,
        updated_at=LATEST,
        updates=[
            StatusUpdateOut(
                message_id="msg-2",
                status=IncidentStatus.IDENTIFIED,
                text=HOSTILE_TEXT,
                published_at=LATEST,
            ),
            StatusUpdateOut(
                message_id="msg-1",
                status=IncidentStatus.INVESTIGATING,
                text="We are looking into it.",
                published_at=FIRST,
            ),
        ],
    )


def test_html_escapes_hostile_titles_and_texts() -> None:
    html = render_status_html(board(hostile_incident()), zone=UTC_ZONE)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; &amp; friends" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "Severity sev1 · identified" in html
    assert "All systems operational" not in html
    assert html.index("msg-2") < html.index("msg-1")


def test_html_says_all_is_well_without_open_incidents() -> None:
    html = render_status_html(board(), zone=UTC_ZONE)

    assert "All systems operational" in html
    assert "<section" not in html


def test_atom_feed_is_well_formed_and_carries_hostile_text_as_text() -> None:
    xml = render_atom(
        board(hostile_incident()), feed_url="https://status.example.test/status/feed.atom"
    )

    feed = ET.fromstring(xml)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "https://status.example.test/status/feed.atom"
    assert feed.findtext(f"{ATOM}updated") == "2025-03-01T09:45:00Z"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Rail status"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        "urn:planb:message:msg-2",
        "urn:planb:message:msg-1",
    ]
    newest = entries[0]
    assert newest.findtext(f"{ATOM}title") == f"[sev1] {HOSTILE_TITLE} — identified"
    content, link = newest.find(f"{ATOM}content"), newest.find(f"{ATOM}link")
    assert content is not None
    assert link is not None
    assert (content.text, content.attrib) == (HOSTILE_TEXT.replace("\x07", ""), {"type": "text"})
    assert link.attrib["href"] == "https://status.example.test/status#inc_1"
    assert newest.findtext(f"{ATOM}updated") == "2025-03-01T09:45:00Z"
    assert "<script>" not in xml


def test_empty_atom_feed_is_valid_and_dated_now() -> None:
    xml = render_atom(board(), feed_url="https://status.example.test/status/feed.atom")

    feed = ET.fromstring(xml)
    assert feed.findall(f"{ATOM}entry") == []
    assert feed.findtext(f"{ATOM}updated") == "2025-03-01T10:00:00Z"


@pytest.mark.parametrize(
    ("zone", "mark", "named"),
    [
        ("Europe/Paris", "CET", "Times are Central European Time (Europe/Paris)."),
        ("America/Sao_Paulo", "UTC-03", "Times are Brasilia Time (America/Sao_Paulo)."),
        ("UTC", "UTC", "Times are UTC."),
    ],
)
def test_the_status_page_speaks_one_time_zone_and_says_which(
    zone: str, mark: str, named: str
) -> None:
    html = render_status_html(board(hostile_incident()), zone=ZoneInfo(zone))

    shown = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", html)
    assert len(shown) == 4  # the incident, its two updates, the page itself
    assert all(text.endswith(f" {mark}") for text in shown), shown
    assert named in html
    if zone == "Europe/Paris":  # 09:45 UTC in March is 10:45 in Paris
        assert "1 Mar 2025, 10:45 CET" in shown
    if mark != "UTC":
        assert "UTC<" not in html  # never a mix
        assert " UTC " not in html


def test_an_unknown_zone_stops_the_publisher_at_start() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        PublisherSettings(display_timezone="Mars/Olympus")
