"""Publisher's own tables: deliveries (the never-post-twice record), the status page's
entries and the pause state of each channel as the router last reported it."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contract.events import utcnow
from shared.runtime.database import UTCDateTime


class Base(DeclarativeBase):
    """Metadata of the publisher's tables (the inbox and outbox come from
    `shared.runtime.database`)."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    PUBLISHED = "published"
    FAILED = "failed"
    HELD = "held"


class Delivery(Base):
    """One row per message (a message already targets one channel); `published` is final."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_incident_id", "incident_id"),
        Index("ix_deliveries_channel_state", "channel_id", "state"),
    )
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[str | None] = mapped_column(String(200))
    post_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    remote_id: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # network channels: the request to send, and the durable retry schedule
    request: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChannelThread(Base):
    """Where an incident's thread stands on a channel: its first post and its latest."""

    __tablename__ = "channel_threads"
    incident_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    root_id: Mapped[str] = mapped_column(String(500))
    root_cid: Mapped[str | None] = mapped_column(String(500))
    parent_id: Mapped[str] = mapped_column(String(500))
    parent_cid: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusEntry(Base):
    """One update shown on the built-in status page; unique per message so it shows once."""

    __tablename__ = "status_entries"
    __table_args__ = (Index("ix_status_entries_incident_published", "incident_id", "published_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(
        String(16), doc="The language of its text; none: the status page's main language"
    )


class ChannelPause(Base):
    """The last pause or resume the router sent for a channel; marketing waits while paused."""

    __tablename__ = "channel_pauses"
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentTags(Base):
    """What an incident affects, as ingest raised or last updated it (from `planb.incidents`):
    the status page's components and the subscribers an update reaches go by it."""

    __tablename__ = "incident_tags"
    incident_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberState(StrEnum):
    PENDING = "pending"  # waiting for the double opt-in (or the webhook's verification)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # the mail server refused the address for good


class Subscriber(Base):
    """A reader subscribed to the status page: personal data, so only what sending needs (the
    address and the choice), exported and erased by an admin (`subscriptions.py`)."""

    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("kind", "address", name="uq_subscribers_kind_address"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | webhook
    address: Mapped[str] = mapped_column(String(2000))
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str | None] = mapped_column(String(200))  # a webhook's signing secret
    state: Mapped[str] = mapped_column(String(16), default=SubscriberState.PENDING.value)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberFanout(Base):
    """A status update to hand to its subscribers, written with its status-page entry (one
    transaction), expanded into notifications once."""

    __tablename__ = "subscriber_fanouts"
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


CONFIRMATION = "confirm"
"""The `message_id` of a subscriber's opt-in message (confirmation mail, webhook ping)."""


class Notification(Base):
    """One message to one subscriber, at most once: (subscriber, message) is unique, and its
    row is the idempotency key the delivery goes out under."""

    __tablename__ = "subscriber_notifications"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "message_id", name="uq_notifications_once"),
        Index("ix_subscriber_notifications_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[str] = mapped_column(String(40), index=True)
    message_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlannedWorks(Base):
    """A maintenance window as the router last described it (`planb.maintenance.changed.v1`):
    upcoming and in-progress works on the page, components under maintenance in its window."""

    __tablename__ = "planned_works"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    text: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
