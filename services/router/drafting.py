"""Drafting a status message per channel in a plain, human voice, sized for the channel.

Templates live in `config/templates/` (see `templates.py` for the lookup order). A rendered
text is tidied like Markdown paragraphs (single line breaks join, a blank line separates),
then shortened at a word boundary if the channel counts it over its limit, keeping the
status-page link whole at the end.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, overload
from zoneinfo import ZoneInfo

import regex
from jinja2 import Environment, Template, TemplateError

from services.router.models import Incident
from services.router.templates import (
    BUILTIN_DIR,
    HOLDING,
    KINDS,
    build_environment,
    candidates,
    check_templates,
    template_folders,
)
from shared.contract.channels import ChannelConfig
from shared.contract.config_files import ConfigFileError
from shared.contract.errors import Rejected
from shared.contract.events import Severity
from shared.contract.textlength import Measured, TextLimit, graphemes, limit_for

_LIST_ITEM = re.compile(r"^[-*\u2022] ")
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Drafted:
    """One channel's text with its length as the channel counts it and what was cut."""

    text: str
    length: int
    limit: int
    cut_chars: int


def channel_limit(channel: ChannelConfig) -> TextLimit:
    """How `channel` counts a post and how long it may be (`counting: sms` means one SMS)."""
    return limit_for(channel.type.value, max_chars=channel.max_chars, counting=channel.counting)


def measure_fitting(channel: ChannelConfig, text: str) -> Measured:
    """The text's length as the channel counts it; a 422 with the figures when it is over,
    so an edited draft and a scheduled post are refused in the same words."""
    measured = channel_limit(channel).measure(text)
    if not measured.fits:
        raise Rejected(
            "Text too long",
            f"The text is {measured.length} {measured.unit} as {channel.id} ({channel.type}) "
            f"counts it; the limit is {measured.limit}, so it is {measured.over} over. "
            f"How it counts: {measured.rule}.",
            channel_id=channel.id,
            length=measured.length,
            limit=measured.limit,
            over=measured.over,
            unit=measured.unit,
            counting=measured.rule,
        )
    return measured


class Drafter:
    """Renders drafts from one template environment, built once at start (`load_drafter`)."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def template_for(self, kind: str, severity: str, channel: ChannelConfig) -> Template:
        return self.env.select_template(candidates(kind, severity, channel))

    def render(
        self,
        incident: Incident,
        channel: ChannelConfig,
        *,
        message: str | None,
        link: str,
        zone: ZoneInfo,
        now: datetime,
        holding: bool = False,
    ) -> str:
        """The template's text for this channel, tidied, before any shortening."""
        kind = HOLDING if holding else incident.status
        template = self.template_for(kind, incident.severity, channel)
        variables = template_variables(
            incident, channel, message=message, link=link, zone=zone, now=now, holding=holding
        )
        try:
            return tidy(template.render(variables))
        except TemplateError as exc:
            raise TemplateError(f"{template.filename}: {exc}") from exc

    def draft(
        self,
        incident: Incident,
        channel: ChannelConfig,
        *,
        message: str | None,
        link: str,
        zone: ZoneInfo,
        now: datetime,
        holding: bool = False,
    ) -> Drafted:
        """The text one channel gets for the incident's state, fitted to its limit."""
        text = self.render(
            incident, channel, message=message, link=link, zone=zone, now=now, holding=holding
        )
        return fit(text, channel_limit(channel), keep=link)


def template_variables(
    incident: Incident,
    channel: ChannelConfig,
    *,
    message: str | None,
    link: str,
    zone: ZoneInfo,
    now: datetime,
    holding: bool,
) -> dict[str, Any]:
    """What a template may use (README, "Draft templates", lists them)."""
    next_update = None
    if (
        incident.next_update_at is not None
        and incident.status != "resolved"
        and incident.next_update_at > now
    ):
        next_update = clock_time(incident.next_update_at, zone)
    return {
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "summary": incident.summary,
        "message": message,
        "impact": incident.customer_impact,
        "services": list(incident.services),
        "regions": list(incident.regions),
        "next_update": next_update,
        "started": clock_time(incident.started_at, zone),
        "link": link,
        "holding": holding,
        "channel": {"id": channel.id, "name": channel.name, "type": channel.type.value},
    }


def clock_time(moment: datetime, zone: ZoneInfo) -> str:
    """`HH:MM` in the display zone, naming the zone only when it is UTC."""
    text = moment.astimezone(zone).strftime("%H:%M")
    return text + " UTC" if zone.key == "UTC" else text


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


def fit(text: str, limit: TextLimit, *, keep: str) -> Drafted:
    """`text` if it fits, else shortened at a word boundary with `keep` (the link) at the end."""
    measured = limit.measure(text)
    if measured.fits:
        return Drafted(text, measured.length, measured.limit, 0)
    body, tail = _split_link(text, keep)
    marker = limit.ellipsis + tail
    head = _longest_fitting(_word_heads(body), lambda h: limit.measure(h + marker).fits)
    if head is None:  # the first word alone is too long: cut inside it
        head = _longest_fitting(_GraphemeHeads(body), lambda h: limit.measure(h + marker).fits)
    if head is not None:
        result, cut = head + marker, graphemes(body) - graphemes(head)
    else:  # not even the link fits: cut the whole text, link or not
        head = _longest_fitting(
            _GraphemeHeads(text), lambda h: limit.measure(h + limit.ellipsis).fits
        )
        result, cut = (head or "") + limit.ellipsis, graphemes(text) - graphemes(head or "")
    final = limit.measure(result)
    return Drafted(result, final.length, final.limit, cut)


def _split_link(text: str, link: str) -> tuple[str, str]:
    """The text without its (last) link, and what goes after the ellipsis."""
    at = text.rfind(link) if link else -1
    if at < 0:
        return text, ""
    body = (text[:at].rstrip() + " " + text[at + len(link) :].strip()).strip()
    return body, " " + link


def _word_heads(body: str) -> list[str]:
    """Every prefix that ends at a word, shortest first, without trailing punctuation."""
    heads = []
    for match in re.finditer(r"\s+", body):
        head = body[: match.start()].rstrip(" ,;:-(\u2013\u2014")
        if head:
            heads.append(head)
    return heads


class _GraphemeHeads(Sequence[str]):
    """Prefixes of whole grapheme clusters, shortest (empty) first, made on demand."""

    def __init__(self, text: str) -> None:
        self._ends = [0, *(match.end() for match in _GRAPHEME.finditer(text))][:-1]
        self._text = text

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._text[:end] for end in self._ends[index]]
        return self._text[: self._ends[index]]


def _longest_fitting(heads: Sequence[str], fits: Callable[[str], bool]) -> str | None:
    """The longest of `heads` (ordered shortest first) that fits, by binary search."""
    low, high, best = 0, len(heads) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(heads[middle]):
            best, low = heads[middle], middle + 1
        else:
            high = middle - 1
    return best


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
                _trial_render(drafter, channel, kind, severity.value)
    return drafter


@cache
def builtin_drafter() -> Drafter:
    """The drafter over the built-in templates alone (the context's default, e.g. in tests)."""
    env = build_environment(template_folders(BUILTIN_DIR, BUILTIN_DIR.parent))
    check_templates(env)
    return Drafter(env)


def _trial_render(drafter: Drafter, channel: ChannelConfig, kind: str, severity: str) -> None:
    template = drafter.template_for(kind, severity, channel)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for full in (True, False):
        incident = _sample_incident(kind, severity, now, full=full)
        variables = template_variables(
            incident,
            channel,
            message="A sample message." if full else None,
            link="https://status.example/status#inc_sample",
            zone=ZoneInfo("UTC"),
            now=now,
            holding=kind == HOLDING,
        )
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
