"""The event contract: CloudEvents 1.0 envelopes around versioned, frozen pydantic payloads.

A payload class names its CloudEvents `type` (which carries the schema version, e.g.
`planb.incident.raised.v1`); `parse_event` turns bytes into a typed `CloudEvent` or raises
`BadEvent`, which consumers send to the dead-letter topic.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contract.envelope import BadEvent as BadEvent
from shared.contract.envelope import CloudEvent as CloudEvent
from shared.contract.envelope import EventData as EventData
from shared.contract.envelope import derived_id as derived_id
from shared.contract.envelope import open_envelope
from shared.contract.envelope import utcnow as utcnow
from shared.contract.plaintext import PublicText

Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
Language = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]
"""A language as BCP 47 writes the common ones: `en`, `fr`, `nl`, `pt-BR`."""


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


class PublishRequestedV2(PublishRequested):
    """v1 and the language(s) the text is in: a v1 consumer refuses the new field, so this
    is a new type (consumers take both; the router sends v2 for status updates)."""

    event_type: ClassVar[str] = "planb.publish.requested.v2"
    languages: list[Language] = Field(
        default_factory=list,
        max_length=20,
        description="the text's languages, several when one post carries them all; empty: "
        "the deployment's default language",
    )


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
        PublishRequestedV2,
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


def parse_event(raw: bytes | None) -> CloudEvent:
    """Decode a structured-mode CloudEvent and validate its `data` against its type."""
    return open_envelope(raw, EVENT_TYPES)
