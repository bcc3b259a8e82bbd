"""Router's tables: incidents and their timeline, drafts, pauses, deliveries, audit log."""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from shared.web.accounts import AccountsBase


class Base(DeclarativeBase):
    # the personal tokens' tables (shared.web.accounts) are the router's too: one metadata,
    # so one history of migrations creates both
    metadata = AccountsBase.metadata
    type_annotation_map: ClassVar[dict[Any, Any]] = AccountsBase.type_annotation_map


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(8))
    highest_severity: Mapped[str] = mapped_column(
        String(8), doc="The most severe it has been: the four-eyes rule goes by this"
    )
    status: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str | None] = mapped_column(Text)
    customer_impact: Mapped[str | None] = mapped_column(Text)
    services: Mapped[list[str]] = mapped_column(default=list)
    regions: Mapped[list[str]] = mapped_column(default=list)
    external_ref: Mapped[str | None] = mapped_column(String(200))
    next_update_at: Mapped[datetime | None]
    update_every_minutes: Mapped[int | None] = mapped_column(
        doc="The cadence operations asked for; a holding update promises the next one by it"
    )
    raised_by: Mapped[str] = mapped_column(String(100))
    last_updated_by: Mapped[str | None] = mapped_column(
        String(100), doc="Who sent the latest update or the resolution (for the four-eyes rule)"
    )
    started_at: Mapped[datetime]
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    draft_cause_id: Mapped[str | None] = mapped_column(
        String(200),
        index=True,
        doc="The latest incident event still waiting for its draft (see draft_queue.py)",
    )
    draft_message: Mapped[str | None] = mapped_column(
        Text, doc="The operator's message of that event, for its draft"
    )

    @validates("severity")
    def _keep_highest(self, _key: str, value: str) -> str:
        """Whatever sets the severity also keeps the highest it has had, so lowering an
        incident (sev1 to sev3) cannot lift a rule the higher severity put on it."""
        if self.highest_severity is None or value < self.highest_severity:  # sev1 < sev2 < …
            self.highest_severity = value
        return value


class TimelineEntry(Base):
    """What happened to an incident, in order: raised, updates, pauses, drafts, deliveries."""

    __tablename__ = "timeline"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime]


class Draft(Base):
    """One set of per-channel texts produced by one incident event."""

    __tablename__ = "drafts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    source_event_id: Mapped[str] = mapped_column(String(200), unique=True)
    incident_status: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    holding: Mapped[bool] = mapped_column(
        default=False, doc="Drafted by the router because a promised update time passed"
    )
    overdue_at: Mapped[datetime | None] = mapped_column(
        doc="When it passed the policy's escalation limit (set by the escalation job)"
    )
    escalated_at: Mapped[datetime | None] = mapped_column(doc="When the router escalated it")


class DraftText(Base):
    """One channel's text in one of its languages."""

    __tablename__ = "draft_texts"
    __table_args__ = (
        UniqueConstraint("draft_id", "channel_id", "language", name="uq_draft_texts_language"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    template_language: Mapped[str | None] = mapped_column(
        String(16),
        doc="The language of the template it was drafted from: another than `language` "
        "when that translation is missing (the default language's text stands in)",
    )
    text: Mapped[str] = mapped_column(Text)
    length: Mapped[int] = mapped_column(
        default=0, server_default="0", doc="The text's length as the channel counts it"
    )
    limit: Mapped[int] = mapped_column(
        default=0, server_default="0", doc="The channel's limit, in the same unit"
    )
    cut_chars: Mapped[int] = mapped_column(
        default=0,
        server_default="0",
        doc="Characters the router cut to fit the limit (0: none, or edited since)",
    )
    edited_by: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(64), unique=True)


class ChannelPause(Base):
    """A channel paused by one incident (or by a person); released when that incident is over
    (or by a duty manager's resume). A channel is paused while any of its pauses is active."""

    __tablename__ = "channel_pauses"
    __table_args__ = (Index("ix_pause_active", "channel_id", "released_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(100), default="policy")
    paused_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(100))


class MarketingPost(Base):
    """One post of the marketing calendar; its state says how far it got.

    scheduled → emitted (on `planb.outbound`) → published | failed | held; scheduled → held
    when its channel is paused; held → scheduled | emitted | cancelled by a resume decision.
    """

    __tablename__ = "marketing_posts"
    __table_args__ = (
        Index("ix_marketing_due", "state", "publish_at"),
        Index("ix_marketing_channel_state", "channel_id", "state"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    campaign: Mapped[str | None] = mapped_column(String(64))
    publish_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    emissions: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Delivery(Base):
    """The publisher's latest word on one message (one channel's text of an approved draft)."""

    __tablename__ = "deliveries"
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str | None] = mapped_column(String(64), index=True)
    draft_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class ConsoleSignIn(Base):
    """A console session, server-side: the cookie carries only its signed id, so signing
    out, a revoked token or the idle limit ends it wherever the cookie was copied to."""

    __tablename__ = "console_sessions"
    sid_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]]
    via: Mapped[str] = mapped_column(String(10), doc="`token` or `oidc`")
    token_sha256: Mapped[str | None] = mapped_column(
        String(64), doc="The token signed in with: the session ends when it does"
    )
    signed_in_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(doc="The absolute end, whatever the activity")
    ended_at: Mapped[datetime | None] = mapped_column(doc="Signed out, or its token revoked")


class OidcLogin(Base):
    """A sign-in sent to the identity provider and not back yet: its `state` (by digest),
    `nonce` and PKCE verifier. Used once: a replayed `state` finds `used_at` set."""

    __tablename__ = "oidc_logins"
    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MaintenanceWindow(Base):
    """Planned works (`maintenance.py`): announced ahead, at start and at end through drafts
    of its own incident row (id = the window's id), marketing paused for the window."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_state_start", "state", "starts_at"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text, doc="What customers are told")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    services: Mapped[list[str]] = mapped_column(default=list)
    regions: Mapped[list[str]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1, doc="Each change's number (event ids)")
