"""Rendering the status page as HTML and as an Atom 1.0 feed, escaped by Jinja2's autoescape.

Update texts come from people under pressure and from monitoring systems, so every value is
treated as hostile: HTML- and XML-escaped, and filtered by `published_text` (the filter every
published text passes at validation) once more here, for rows stored before it existed.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.publisher.clock_text import human_time, zone_name
from services.publisher.languages import language_name, words_for
from services.publisher.schemas import StatusBoard
from shared.contract.plaintext import published_text


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("services.publisher", "templates"),
        autoescape=select_autoescape(["html", "xml"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["xml_safe"] = published_text  # drops all XML 1.0 cannot carry, and more
    env.filters["rfc3339"] = rfc3339
    env.filters["human_time"] = human_time
    env.filters["zone_name"] = zone_name
    return env


_ENV = _environment()


def render_status_html(board: StatusBoard, *, zone: ZoneInfo) -> str:
    """The page in the board's language, every time on it in `zone` and marked with it,
    with a switch to each language it is served in."""
    return _ENV.get_template("status.html").render(
        board=board,
        zone=zone,
        words=words_for(board.language),
        names={language: language_name(language) for language in board.languages},
    )


def render_atom(board: StatusBoard, *, feed_url: str) -> str:
    """Atom 1.0: one entry per update, ids stable across renders (`urn:planb:message:<id>`)."""
    updated = max((i.updated_at for i in board.incidents), default=board.generated_at)
    return _ENV.get_template("feed.atom.xml").render(
        board=board, feed_url=feed_url, updated=updated, words=words_for(board.language)
    )


def render_subscription_answer(
    *, title: str, status_url: str, heading: str, text: str, form_action: str | None
) -> str:
    """A short page answering a subscriber's click (subscribed, confirmed, unsubscribed)."""
    return _ENV.get_template("subscription_answer.html").render(
        title=title, status_url=status_url, heading=heading, text=text, form_action=form_action
    )
