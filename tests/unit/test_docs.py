"""docs/design.md stays true where a machine can tell: every route of the three apps, every
event type and every topic is named there (and nothing that no longer exists), and every
relative link in README.md and docs/*.md points at a file that exists."""

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.publisher.main import create_app as create_publisher
from services.publisher.settings import PublisherSettings
from services.router.main import create_app as create_router
from services.router.settings import RouterSettings
from shared.contract.events import EVENT_TYPES
from shared.contract.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
ROUTE_NAMED = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")


def section(title: str) -> str:
    """The text of design.md's `## title` section, up to the next `## ` heading."""
    text = DESIGN.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"docs/design.md has no '## {title}' section"
    return match.group(1)


def routes_of(app: FastAPI) -> set[str]:
    """`METHOD /path` for every route the app serves (HEAD aside), and `/path` for mounts;
    routers included in the app are walked too (`app.routes` alone lists them unopened)."""
    found: set[str] = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.add(str(route.path))
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.add(f"{method} {route.path}")
    return found


@pytest.fixture
def apps(tmp_path: Path) -> dict[str, FastAPI]:
    """The three apps as their factories build them; nothing starts until their lifespan."""
    common = {"environment": "test", "data_dir": tmp_path}
    return {
        "ingest": create_ingest(IngestSettings(**common)),
        "router": create_router(RouterSettings(**common)),
        "publisher": create_publisher(PublisherSettings(**common)),
    }


def test_every_route_of_every_service_is_in_the_http_section(apps: dict[str, FastAPI]) -> None:
    http = section("HTTP API")
    for service, app in apps.items():
        routes = routes_of(app)
        assert {"GET /healthz", "GET /readyz", "GET /metrics"} <= routes  # included routers seen
        missing = sorted(route for route in routes if f"`{route}`" not in http)
        assert missing == [], f"docs/design.md, 'HTTP API', does not list {service}'s {missing}"


def test_every_route_the_http_section_names_exists(apps: dict[str, FastAPI]) -> None:
    served = set().union(*(routes_of(app) for app in apps.values()))
    named = {f"{method} {path}" for method, path in ROUTE_NAMED.findall(section("HTTP API"))}
    assert len(named) > 40
    assert sorted(named - served) == [], "docs/design.md names routes no service serves"


def test_every_event_type_is_in_the_events_section() -> None:
    events = section("Events")
    missing = sorted(t for t in EVENT_TYPES if f"`{t}`" not in events)
    assert missing == [], f"docs/design.md, 'Events', does not describe {missing}"


def test_every_topic_is_in_the_topics_section() -> None:
    topics = section("Topics")
    names = Topics().all()
    assert "planb.outbound.dlq" in names
    missing = sorted(name for name in names if f"`{name}`" not in topics)
    assert missing == [], f"docs/design.md, 'Topics', does not list {missing}"


FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"\b(?:src|href)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def relative_links(markdown: str) -> list[str]:
    """Link and image targets outside code, without external URLs or same-page anchors."""
    prose = INLINE_CODE.sub("", FENCED.sub("", markdown))
    targets = MARKDOWN_LINK.findall(prose) + HTML_LINK.findall(prose)
    return [t for t in targets if not SCHEME.match(t) and not t.startswith("#")]


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_link_finder_sees_links_and_ignores_code() -> None:
    sample = (
        'See [design](docs/design.md#shape), ![shot](a.png "t") and <img src="b.png">.\n'
        "[web](https://example.com) [here](#top) `[not](c.md)`\n```\n[nor](d.md)\n```\n"
    )
    assert relative_links(sample) == ["docs/design.md#shape", "a.png", "b.png"]


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_relative_link_points_at_a_file_that_exists(document: Path) -> None:
    links = relative_links(document.read_text())
    broken = [
        link for link in links if not (document.parent / link.split("#", 1)[0]).resolve().exists()
    ]
    assert broken == [], f"{document.relative_to(ROOT)} links to missing files"


def test_the_readme_links_the_design_and_broker_pages() -> None:
    links = {link.split("#", 1)[0] for link in relative_links((ROOT / "README.md").read_text())}
    assert {"docs/design.md", "docs/broker.md", "LICENSE"} <= links
