"""Response bodies of the publisher's API and the status page's data."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.publisher.schemas_components import ComponentOut, PlannedWorksOut
from shared.contract.channels import ChannelType
from shared.contract.events import IncidentStatus, MessageKind, Severity
from shared.contract.plaintext import PublicText


class StatusUpdateOut(BaseModel):
    """One published update, as the public reads it."""

    model_config = ConfigDict(from_attributes=True)
    message_id: str
    status: IncidentStatus
    text: PublicText
    published_at: datetime
    language: str | None = Field(
        default=None, description="Its text's language (none: the page's main language)"
    )


class IncidentOut(BaseModel):
    """An incident as the status page shows it: its latest state, updates newest first."""

    incident_id: str
    title: PublicText
    severity: Severity
    status: IncidentStatus
    url: str
    first_published_at: datetime
    updated_at: datetime
    updates: list[StatusUpdateOut]


class StatusBoard(BaseModel):
    """Everything the status page, its JSON and its Atom feed show."""

    title: str
    url: str
    operational: bool
    generated_at: datetime
    incidents: list[IncidentOut]
    language: str = Field(default="en", description="The language of this rendering")
    languages: list[str] = Field(
        default_factory=lambda: ["en"], description="Every language the page is served in"
    )
    components: list[ComponentOut] = Field(default_factory=list)
    maintenance: list[PlannedWorksOut] = Field(
        default_factory=list, description="planned works upcoming or in progress, soonest first"
    )
    subscribe_by_email: bool = Field(
        default=False, description="readers may subscribe by email (`POST /status/subscriptions`)"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    message_id: str
    channel_id: str
    kind: MessageKind
    incident_id: str | None
    post_id: str | None
    state: str
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class ChannelHealth(BaseModel):
    """A configured channel as an on-call engineer needs to see it."""

    id: str
    type: ChannelType
    name: str
    marketing: bool
    adapter: bool
    paused: bool
    pause_reason: str | None
    published: int
    failed: int
    held: int
    queued: int
    breaker: str
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
