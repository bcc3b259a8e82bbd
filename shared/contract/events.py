"""The event contract: CloudEvents 1.0 envelopes around versioned, frozen pydantic payloads.

A payload class names its CloudEvents `type` (which carries the schema version, e.g.
`planb.incident.raised.v1`); `parse_event` turns bytes into a typed `CloudEvent` or raises
`BadEvent`, which consumers send to the dead-letter topic.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
)

from shared.contract.plaintext import PublicText
from shared.contract.validation import summarise

Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]


def _exists_in_utc(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None
    return value


# A timestamp from outside (request bodies, query strings): with a UTC offset, and an instant
# UTC can hold, since the databases store UTC; 9999-12-31T23:59:59-14:00 is a 422, not a
# crash when it is stored (or a raised event the router can never record).
Instant = Annotated[AwareDatetime, AfterValidator(_exists_in_utc)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Severity(StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    STATUS_UPDATE = "status_update"
    MARKETING = "marketing"


class EventData(BaseModel):
    """Base of every payload; `event_type` is the CloudEvents `type` it travels under."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]


class Affected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    services: list[Tag] = Field(default_factory=list, max_length=50)
    regions: list[Tag] = Field(default_factory=list, max_length=50)


# --- planb.incidents ---------------------------------------------------------------------


class IncidentRaised(EventData):
    event_type: ClassVar[str] = "planb.incident.raised.v1"
    incident_id: str
    title: PublicText
    severity: Severity
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    summary: PublicText | None = None
    affected: Affected = Affected()
    customer_impact: PublicText | None = None
    next_update_in_minutes: int = 30
    started_at: datetime
    external_ref: str | None = None
    raised_by: str
    raised_at: datetime


class IncidentUpdated(EventData):
    event_type: ClassVar[str] = "planb.incident.updated.v1"
    incident_id: str
    status: IncidentStatus
    message: PublicText | None = None
    customer_impact: PublicText | None = None
    severity: Severity | None = None
    next_update_in_minutes: int | None = None
    updated_by: str
    updated_at: datetime


class IncidentResolved(EventData):
    event_type: ClassVar[str] = "planb.incident.resolved.v1"
    incident_id: str
    message: PublicText | None = None
    customer_impact: PublicText | None = None
    resolved_by: str
    resolved_at: datetime


# --- planb.outbound ----------------------------------------------------------------------


class IncidentRef(BaseModel):
    """What a channel needs to know about the incident a status update belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    incident_id: str
    title: PublicText
    severity: Severity
    status: IncidentStatus


class PublishRequested(EventData):
    event_type: ClassVar[str] = "planb.publish.requested.v1"
    message_id: str
    channel_id: str
    kind: MessageKind
    text: PublicText
    incident: IncidentRef | None = None
    post_id: str | None = None
    approved_by: str | None = None
    requested_at: datetime


class ChannelPaused(EventData):
    event_type: ClassVar[str] = "planb.channel.paused.v1"
    channel_id: str
    incident_id: str | None = None
    reason: str
    paused_at: datetime


class ChannelResumed(EventData):
    event_type: ClassVar[str] = "planb.channel.resumed.v1"
    channel_id: str
    incident_id: str | None = None
    resumed_at: datetime


class MaintenanceState(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MaintenanceChanged(EventData):
    """A planned-works window as it now stands (created, started, extended, ended,
    cancelled): the status page shows it as upcoming or in progress and puts the components
    it affects under maintenance for its window. Keyed by the maintenance id."""

    event_type: ClassVar[str] = "planb.maintenance.changed.v1"
    maintenance_id: str
    title: PublicText
    state: MaintenanceState
    starts_at: datetime
    ends_at: datetime
    affected: Affected = Affected()
    text: PublicText | None = None
    changed_at: datetime


# --- planb.deliveries --------------------------------------------------------------------


class DeliveryOutcome(EventData):
    """Common fields of every delivery report (keyed by message id)."""

    message_id: str
    channel_id: str
    kind: MessageKind
    incident_id: str | None = None
    post_id: str | None = None
    attempts: int = 1
    at: datetime


class DeliveryPublished(DeliveryOutcome):
    event_type: ClassVar[str] = "planb.delivery.published.v1"
    remote_id: str | None = None
    url: str | None = None


class DeliveryFailed(DeliveryOutcome):
    event_type: ClassVar[str] = "planb.delivery.failed.v1"
    error: str


class DeliveryHeld(DeliveryOutcome):
    event_type: ClassVar[str] = "planb.delivery.held.v1"
    reason: str


class DeliveryRetrying(DeliveryOutcome):
    event_type: ClassVar[str] = "planb.delivery.retrying.v1"
    error: str
    next_attempt_at: datetime


# --- planb.audit -------------------------------------------------------------------------


class AuditRecorded(EventData):
    event_type: ClassVar[str] = "planb.audit.recorded.v1"
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any] = Field(default_factory=dict)
    at: datetime


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        IncidentRaised,
        IncidentUpdated,
        IncidentResolved,
        PublishRequested,
        ChannelPaused,
        ChannelResumed,
        MaintenanceChanged,
        DeliveryPublished,
        DeliveryFailed,
        DeliveryHeld,
        DeliveryRetrying,
        AuditRecorded,
    )
}


class BadEvent(ValueError):
    """A record that is not a valid Plan B CloudEvent; it belongs on the dead-letter topic."""


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope (JSON)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: SerializeAsAny[EventData]

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset")
        return value

    @classmethod
    def wrap(
        cls, data: EventData, *, source: str, subject: str | None = None, id: str | None = None
    ) -> Self:
        """Envelope `data` under its own type; pass `id` to make a derived event deterministic."""
        fields: dict[str, Any] = {"source": source, "type": data.event_type, "subject": subject}
        if id is not None:
            fields["id"] = id
        return cls(data=data, **fields)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def parse_event(raw: bytes | None) -> CloudEvent:
    """Decode a structured-mode CloudEvent and validate its `data` against its type."""
    if raw is None:
        raise BadEvent("record has no value")
    try:
        envelope = _RawEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise BadEvent(f"not a CloudEvent: {summarise(exc)}") from exc
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise BadEvent(f"unknown event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise BadEvent(f"invalid {envelope.type} data: {summarise(exc)}") from exc
    fields = envelope.model_dump(exclude={"data"})
    return CloudEvent(data=data, **fields)


def derived_id(*parts: str) -> str:
    """A stable event id from its causes, so a redelivered cause yields the same event."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "planb:" + ":".join(parts)))


class _RawEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
