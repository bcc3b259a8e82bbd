"""Drafting a status message per channel in a plain, human voice, sized for the channel.

Templates live in `config/templates/` (see `templates.py` for the lookup order). A rendered
text is tidied like Markdown paragraphs (single line breaks join, a blank line separates),
then fitted to the channel's limit (`fitting.py`).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, Template, TemplateError

from services.router.fitting import Drafted, channel_limit, fit
from services.router.models import Incident
from services.router.templates import (
    BUILTIN_DIR,
    DEFAULT_LANGUAGE,
    HOLDING,
    KINDS,
    babel_locale,
    build_environment,
    candidates,
    check_templates,
    language_of,
    reads_variable,
    template_folders,
)
from shared.contract.channels import ChannelConfig
from shared.contract.config_files import ConfigFileError
from shared.contract.events import Severity

_LIST_ITEM = re.compile(r"^[-*\u2022] ")


@dataclass(frozen=True)
class DraftInput:
    """What a draft is written from, the same for every channel it is drafted for: the
    incident's state, the event's message, the status-page link, and the reader's zone and
    time; `holding` drafts the "still working on it" text (`holding.j2`)."""

    incident: Incident
    message: str | None
    link: str
    zone: ZoneInfo
    now: datetime
    holding: bool = False

    @property
    def kind(self) -> str:
        """The template kind: the incident's status, or `holding`."""
        return HOLDING if self.holding else self.incident.status


@dataclass(frozen=True)
class LanguageText:
    """One channel's text in one of its languages; `template_language` differs from
    `language` when that translation is missing and the default language's stands in."""

    language: str
    template_language: str
    drafted: Drafted

    @property
    def fallback(self) -> bool:
        return self.template_language != self.language


class Drafter:
    """Renders drafts from one template environment, built once at start (`load_drafter`)."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self._chosen: dict[tuple[str, ...], Template] = {}
        self._per_channel: dict[str | None, bool] = {}

    def template_for(
        self, kind: str, severity: str, channel: ChannelConfig, language: str = DEFAULT_LANGUAGE
    ) -> Template:
        """The most specific template, chosen once per candidate list: each missing candidate
        costs the loader a stat() and an exception (a storm's 10,000 texts: ~12% of the loop)."""
        names = tuple(candidates(kind, severity, channel, language))
        if (template := self._chosen.get(names)) is None:
            template = self._chosen[names] = self.env.select_template(names)
        return template

    def render(
        self, draft_input: DraftInput, channel: ChannelConfig, language: str = DEFAULT_LANGUAGE
    ) -> LanguageText:
        """The template's text for this channel in `language` (or the default language's
        when it has none), tidied, unfitted (`drafted.limit` is 0)."""
        kind, severity = draft_input.kind, draft_input.incident.severity
        template = self.template_for(kind, severity, channel, language)
        written_in = language_of(template.name, language)
        text = self._render(template, template_variables(draft_input, channel, written_in))
        return LanguageText(language, written_in, Drafted(text, 0, 0, 0))

    def draft(
        self, draft_input: DraftInput, channel: ChannelConfig, language: str = DEFAULT_LANGUAGE
    ) -> Drafted:
        """The text one channel gets for the incident's state, fitted to its limit."""
        return self.draft_in(draft_input, channel, language).drafted

    def draft_in(
        self, draft_input: DraftInput, channel: ChannelConfig, language: str
    ) -> LanguageText:
        rendered = self.render(draft_input, channel, language)
        drafted = fit(rendered.drafted.text, channel_limit(channel), keep=draft_input.link)
        return LanguageText(language, rendered.template_language, drafted)

    def draft_languages(
        self, draft_input: DraftInput, channel: ChannelConfig
    ) -> list[LanguageText]:
        """The channel's text in each of its languages, its main one first."""
        return [self.draft_in(draft_input, channel, lang) for lang in channel.languages]

    def draft_all(
        self, draft_input: DraftInput, channels: list[ChannelConfig]
    ) -> dict[tuple[str, str], LanguageText]:
        """Every channel's text in each of its languages, as `draft_in` gives it, but each
        template rendered once for all the channels it serves unless it reads `channel`, and
        each text fitted once per limit: 1,000 channels on a few templates cost a few renders,
        not 1,000 (rendering shares the router's loop with the pauses)."""
        kind, severity = draft_input.kind, draft_input.incident.severity
        rendered: dict[tuple[str | None, str, str | None], str] = {}
        fitted: dict[tuple[str, str, int | None, str | None], Drafted] = {}
        drafts: dict[tuple[str, str], LanguageText] = {}
        for channel in channels:
            for language in channel.languages:
                template = self.template_for(kind, severity, channel, language)
                written_in = language_of(template.name, language)
                key = (
                    template.name,
                    written_in,
                    channel.id if self.reads_channel(template) else None,
                )
                if (text := rendered.get(key)) is None:
                    variables = template_variables(draft_input, channel, written_in)
                    text = rendered[key] = self._render(template, variables)
                how = (text, channel.type.value, channel.max_chars, channel.counting)
                if (drafted := fitted.get(how)) is None:
                    limit = channel_limit(channel)
                    drafted = fitted[how] = fit(text, limit, keep=draft_input.link)
                drafts[channel.id, language] = LanguageText(language, written_in, drafted)
        return drafts

    def reads_channel(self, template: Template) -> bool:
        """Whether the template, or one it includes, reads `channel` (a name it can't tell
        statically counts as yes); found once per template."""
        if (known := self._per_channel.get(template.name)) is None:
            known = self._per_channel[template.name] = reads_variable(
                self.env, template.name, "channel"
            )
        return known

    def _render(self, template: Template, variables: dict[str, Any]) -> str:
        try:
            return tidy(template.render(variables))
        except TemplateError as exc:
            raise TemplateError(f"{template.filename}: {exc}") from exc


def template_variables(
    draft_input: DraftInput, channel: ChannelConfig, language: str = DEFAULT_LANGUAGE
) -> dict[str, Any]:
    """What a template may use (README, "Draft templates", lists them)."""
    incident, zone = draft_input.incident, draft_input.zone
    next_update = None
    if (
        incident.next_update_at is not None
        and incident.status != "resolved"
        and incident.next_update_at > draft_input.now
    ):
        next_update = clock_time(incident.next_update_at, zone, language)
    return {
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "summary": incident.summary,
        "message": draft_input.message,
        "impact": incident.customer_impact,
        "services": list(incident.services),
        "regions": list(incident.regions),
        "next_update": next_update,
        "started": clock_time(incident.started_at, zone, language),
        "link": draft_input.link,
        "holding": draft_input.holding,
        "language": language,
        "channel": {"id": channel.id, "name": channel.name, "type": channel.type.value},
    }


def clock_time(moment: datetime, zone: ZoneInfo, language: str = DEFAULT_LANGUAGE) -> str:
    """Hours and minutes (24-hour) in the display zone as the language writes them (Babel),
    naming the zone only when it is UTC."""
    pattern = _hours_minutes(language)
    local = moment.astimezone(zone)
    if pattern == "HH:mm":  # most languages: no need for Babel's formatter on every text
        text = local.strftime("%H:%M")
    else:
        text = format_datetime(local, pattern, tzinfo=zone, locale=babel_locale(language))
    return text + " UTC" if zone.key == "UTC" else text


@cache
def _hours_minutes(language: str) -> str:
    """The language's 24-hour `Hm` pattern (CLDR, through Babel), looked up once."""
    return str(babel_locale(language).datetime_skeletons["Hm"])


def tidy(rendered: str) -> str:
    """Join lines into paragraphs (a blank line separates them; `- ` items keep their line)."""
    paragraphs: list[list[str]] = [[]]
    for raw in rendered.splitlines():
        line = " ".join(raw.split())
        if not line:
            if paragraphs[-1]:
                paragraphs.append([])
        elif _LIST_ITEM.match(line) or not paragraphs[-1]:
            paragraphs[-1].append(line)
        else:
            paragraphs[-1][-1] += " " + line
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def next_update_at(now: datetime, minutes: int | None) -> datetime | None:
    return None if minutes is None else now + timedelta(minutes=minutes)


def load_drafter(templates_dir: Path, config_dir: Path, channels: list[ChannelConfig]) -> Drafter:
    """The drafter over the operator's templates and the built-in set, checked by rendering
    every kind for every channel, so a broken template stops the router at start."""
    folders = template_folders(templates_dir, config_dir)
    if not folders:
        raise ConfigFileError(
            f"{templates_dir}: no template folder found (nor the built-in set in {BUILTIN_DIR})"
        )
    env = build_environment(folders)
    check_templates(env)
    drafter = Drafter(env)
    for channel in channels:
        for kind in KINDS:
            for severity in Severity:
                for language in channel.languages:
                    _trial_render(
                        drafter, channel, kind=kind, severity=severity.value, language=language
                    )
    return drafter


@cache
def builtin_drafter() -> Drafter:
    """The drafter over the built-in templates alone (the context's default, e.g. in tests)."""
    env = build_environment(template_folders(BUILTIN_DIR, BUILTIN_DIR.parent))
    check_templates(env)
    return Drafter(env)


def _trial_render(
    drafter: Drafter, channel: ChannelConfig, *, kind: str, severity: str, language: str
) -> None:
    template = drafter.template_for(kind, severity, channel, language)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for full in (True, False):
        sample = DraftInput(
            incident=_sample_incident(kind, severity, now, full=full),
            message="A sample message." if full else None,
            link="https://status.example/status#inc_sample",
            zone=ZoneInfo("UTC"),
            now=now,
            holding=kind == HOLDING,
        )
        variables = template_variables(sample, channel, language_of(template.name, language))
        try:
            template.render(variables)
        except TemplateError as exc:
            raise ConfigFileError(
                f"{template.filename}: cannot render for channel {channel.id!r} ({kind}, "
                f"{severity}): {exc}"
            ) from exc


def _sample_incident(kind: str, severity: str, now: datetime, *, full: bool) -> Incident:
    return Incident(
        id="inc_sample",
        title="Sample incident",
        severity=severity,
        status="investigating" if kind == HOLDING else kind,
        summary="A sample summary." if full else None,
        customer_impact="Some services are slower than usual." if full else None,
        services=["trains"] if full else [],
        regions=["north", "south"] if full else [],
        next_update_at=now + timedelta(minutes=30) if full else None,
        started_at=now,
    )
