"""What the console's pages show, read through the router's own read models and tables."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router import read_models
from services.router.context import RouterContext
from services.router.fitting import channel_limit
from services.router.models import (
    AuditEntry,
    ChannelPause,
    Delivery,
    Draft,
    Incident,
    MarketingPost,
)
from services.router.schemas import ChannelOut, DraftOut, IncidentDetailOut
from shared.contract.textlength import find_urls
from shared.web.auth import Principal

SEVERITY_WORDS = {"sev1": "critical", "sev2": "major", "sev3": "minor", "sev4": "low"}
FINAL_DELIVERY = {"published", "failed", "held"}


@dataclass
class IncidentRow:
    incident: Incident
    paused: list[str]
    draft: DraftOut | None


@dataclass
class Overview:
    incidents: list[IncidentRow]
    waiting: list[DraftOut]
    """Pending drafts, overdue first, then the one waiting longest."""
    manual_pauses: list[str]


async def overview(ctx: RouterContext, session: AsyncSession, who: Principal) -> Overview:
    """Open incidents, most severe first, then the oldest; each with its pauses and draft."""
    incidents = list(
        (
            await session.scalars(
                select(Incident)
                .where(Incident.resolved_at.is_(None))
                .order_by(Incident.severity, Incident.opened_at)
            )
        ).all()
    )
    waiting, _ = await read_models.drafts_page(  # one pending draft an incident: bounded
        session, state="pending", incident_id=None, limit=500, cursor=None, now=ctx.clock()
    )
    draft_of = {d.incident_id: d for d in reversed(waiting)}
    pauses = await session.scalars(select(ChannelPause).where(ChannelPause.released_at.is_(None)))
    paused_by: dict[str | None, list[str]] = {}
    for pause in pauses:
        paused_by.setdefault(pause.incident_id, []).append(_name(ctx, pause.channel_id))
    rows = [
        IncidentRow(i, sorted(set(paused_by.get(i.id, []))), draft_of.get(i.id)) for i in incidents
    ]
    return Overview(rows, waiting, sorted(set(paused_by.get(None, []))))


@dataclass
class AuditLine:
    at: datetime
    actor: str
    action: str
    entity: str
    summary: str


@dataclass
class IncidentPage:
    detail: IncidentDetailOut
    pending: DraftOut | None
    audit: list[AuditLine]
    channel_names: dict[str, str] = field(default_factory=dict)


async def incident_page(
    ctx: RouterContext, session: AsyncSession, incident: Incident
) -> IncidentPage:
    detail = await read_models.incident_detail(session, incident)
    pending = next((d for d in detail.drafts if d.state == "pending"), None)
    ids = [incident.id, *(d.id for d in detail.drafts)]
    rows = await session.scalars(
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.entity_id.in_(ids),
                (AuditEntry.entity_type == "channel") & (AuditEntry.at >= incident.opened_at),
            )
        )
        .order_by(AuditEntry.id)
        .limit(1000)
    )
    audit = [
        audit_line(row)
        for row in rows
        if row.entity_type != "channel" or row.details.get("incident_id") == incident.id
    ]
    names = {c.id: c.name for c in ctx.channels}
    return IncidentPage(detail, pending, audit, names)


async def recent_audit(session: AsyncSession, limit: int = 200) -> list[AuditLine]:
    rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [audit_line(row) for row in rows]


def audit_line(row: AuditEntry) -> AuditLine:
    """One audit entry in words: what changed, without the whole before/after text."""
    details = {k: v for k, v in row.details.items() if k not in ("before", "after") and v}
    summary = ", ".join(f"{k}: {_plain(v)}" for k, v in details.items())
    return AuditLine(row.at, row.actor, row.action, f"{row.entity_type} {row.entity_id}", summary)


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@dataclass
class ChannelText:
    channel_id: str
    name: str
    type: str
    text: str
    length: int
    limit: int
    unit: str
    rule: str
    over: int
    links: list[str]
    language: str = "en"
    template_language: str | None = None

    @property
    def key(self) -> str:
        """Its form field's name after `text:`: the channel and the language."""
        return f"{self.channel_id}:{self.language}"

    @property
    def fallback(self) -> bool:
        """Its language had no template: the default language's text stands in."""
        return self.template_language not in (None, self.language)


@dataclass
class DraftPage:
    draft: DraftOut
    incident: Incident
    texts: list[ChannelText]
    deliveries: list[Delivery]


def measure(ctx: RouterContext, channel_id: str, text: str) -> ChannelText | None:
    """A text as its channel counts it (the rule approvals enforce), and the links in it."""
    channel = ctx.channel(channel_id)
    if channel is None:
        return None
    measured = channel_limit(channel).measure(text)
    return ChannelText(
        channel_id=channel.id,
        name=channel.name,
        type=channel.type.value,
        text=text,
        length=measured.length,
        limit=measured.limit,
        unit=measured.unit,
        rule=measured.rule,
        over=measured.over,
        links=[text[start:end] for start, end in find_urls(text)],
    )


async def draft_page(
    ctx: RouterContext,
    session: AsyncSession,
    draft: Draft,
    *,
    submitted: dict[str, str] | None = None,
) -> DraftPage:
    """The draft with each channel's text (or the text just submitted) measured."""
    (view,) = await read_models.draft_views(session, [draft], now=ctx.clock())
    incident = await session.get(Incident, draft.incident_id)
    assert incident is not None, draft.incident_id
    texts: list[ChannelText] = []
    typed = submitted or {}
    for row in view.texts:
        main = not texts or texts[-1].channel_id != row.channel_id  # its first language
        bare = typed.get(row.channel_id, row.text) if main else row.text
        text = typed.get(f"{row.channel_id}:{row.language}", bare)
        shown = measure(ctx, row.channel_id, text) or _unmeasured(row.channel_id, text, row.limit)
        shown.language, shown.template_language = row.language, row.template_language
        texts.append(shown)
    return DraftPage(view, incident, texts, await deliveries_of(session, draft.id))


async def deliveries_of(session: AsyncSession, draft_id: str) -> list[Delivery]:
    rows = await session.scalars(
        select(Delivery).where(Delivery.draft_id == draft_id).order_by(Delivery.channel_id)
    )
    return list(rows.all())


def _unmeasured(channel_id: str, text: str, limit: int) -> ChannelText:
    """A channel no longer configured: shown, but it cannot be approved as it is."""
    return ChannelText(channel_id, channel_id, "unknown", text, len(text), limit, "", "", 0, [])


@dataclass
class MarketingBoard:
    channels: list[ChannelOut]
    held: list[MarketingPost]
    marketing_channels: list[str]


async def marketing_board(ctx: RouterContext, session: AsyncSession) -> MarketingBoard:
    channels = await read_models.channel_views(ctx, session)
    held = await session.scalars(
        select(MarketingPost)
        .where(MarketingPost.state == "held")
        .order_by(MarketingPost.channel_id, MarketingPost.publish_at, MarketingPost.id)
        .limit(500)
    )
    return MarketingBoard(channels, list(held.all()), [c.id for c in ctx.channels if c.marketing])


def _name(ctx: RouterContext, channel_id: str) -> str:
    channel = ctx.channel(channel_id)
    return channel.name if channel else channel_id
