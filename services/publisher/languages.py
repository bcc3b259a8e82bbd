"""The status page in its readers' languages: the ones its channel lists (`languages` in
channels.yaml, the first its main one), chosen per request by `?lang=`, else by the
browser's `Accept-Language`, else the main one. An incident with no update in the chosen
language yet shows its main-language updates, so nobody reads an empty page."""

from babel.core import Locale, UnknownLocaleError

from services.publisher.schemas import StatusBoard
from shared.contract.channels import ChannelConfig, ChannelType

DEFAULT = "en"

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "operational": "All systems operational",
        "working": "We are working on {n} active incident(s).",
        "severity": "Severity",
        "updated": "updated",
        "times": "Times are {zone}.",
        "page_updated": "Updated",
        "feed": "Atom feed",
        "language": "Language",
        "investigating": "investigating",
        "identified": "identified",
        "monitoring": "monitoring",
        "resolved": "resolved",
    },
    "fr": {
        "operational": "Tous les services fonctionnent normalement",
        "working": "Nous traitons {n} incident(s) en cours.",
        "severity": "Gravité",
        "updated": "mis à jour",
        "times": "Heures indiquées : {zone}.",
        "page_updated": "Mis à jour",
        "feed": "Flux Atom",
        "language": "Langue",
        "investigating": "analyse en cours",
        "identified": "cause identifiée",
        "monitoring": "sous surveillance",
        "resolved": "résolu",
    },
    "nl": {
        "operational": "Alle diensten werken normaal",
        "working": "We werken aan {n} lopende storing(en).",
        "severity": "Ernst",
        "updated": "bijgewerkt",
        "times": "Tijden in {zone}.",
        "page_updated": "Bijgewerkt",
        "feed": "Atom-feed",
        "language": "Taal",
        "investigating": "in onderzoek",
        "identified": "oorzaak gevonden",
        "monitoring": "onder observatie",
        "resolved": "opgelost",
    },
}


def page_languages(channels: list[ChannelConfig]) -> list[str]:
    """The status page channel's languages, its main one first (English when none is set)."""
    page = next((c for c in channels if c.type is ChannelType.STATUSPAGE), None)
    return list(page.languages) if page is not None else [DEFAULT]


def accepted(header: str | None) -> list[str]:
    """An `Accept-Language` header's tags, most wanted first (q=0 means "not this")."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(served: list[str], *, asked: str | None, header: str | None) -> str:
    """`asked` (`?lang=`) if served, else the best served match of the header (by its
    primary subtag too: `fr-BE` reads `fr`), else the main language."""
    lowered = {language.lower(): language for language in served}
    for wanted in ([asked.lower()] if asked else []) + accepted(header):
        if wanted in lowered:
            return lowered[wanted]
        primary = wanted.split("-")[0]
        match = next((s for s in served if s.lower().split("-")[0] == primary), None)
        if match is not None:
            return match
    return served[0]


def words_for(language: str) -> dict[str, str]:
    """The page's own words in `language` (English for one not translated yet)."""
    return WORDS.get(language.split("-")[0], WORDS[DEFAULT])


def language_name(language: str) -> str:
    """The language named in itself (`français`, `Nederlands`), for the language switch."""
    try:
        return (
            Locale.parse(language, sep="-").get_display_name(language.replace("-", "_")) or language
        )
    except (UnknownLocaleError, ValueError):
        return language


def in_language(
    board: StatusBoard, language: str, served: list[str], *, updates: int
) -> StatusBoard:
    """The board with each incident's `updates` newest updates in `language`, or in the main
    language for an incident that has none in it yet."""
    main = served[0]
    incidents = []
    for incident in board.incidents:
        mine = [u for u in incident.updates if (u.language or main) == language]
        shown = mine or [u for u in incident.updates if (u.language or main) == main]
        shown = (shown or incident.updates)[:updates]
        incidents.append(incident.model_copy(update={"updates": shown}))
    return board.model_copy(
        update={"incidents": incidents, "language": language, "languages": served}
    )
