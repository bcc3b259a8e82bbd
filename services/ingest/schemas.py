"""Request and response bodies of the ingest API."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import Affected, IncidentStatus, Instant, Severity
from shared.contract.plaintext import PUBLISHED, PublicText

OpenStatus = Literal[
    IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING
]


class IncidentCreate(BaseModel):
    """What an operator says when raising an incident."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: PublicText = Field(min_length=1, max_length=200)
    severity: Severity
    summary: Annotated[str, Field(max_length=2000), PUBLISHED] | None = None
    status: OpenStatus = IncidentStatus.INVESTIGATING
    affected: Affected = Affected()
    customer_impact: Annotated[str, Field(max_length=1000), PUBLISHED] | None = None
    next_update_in_minutes: int = Field(default=30, ge=5, le=1440)
    started_at: Instant | None = None
    external_ref: str | None = Field(default=None, max_length=200)


class IncidentUpdateIn(BaseModel):
    """A follow-up; `status: resolved` closes the incident."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: IncidentStatus
    message: Annotated[str, Field(max_length=2000), PUBLISHED] | None = None
    customer_impact: Annotated[str, Field(max_length=1000), PUBLISHED] | None = None
    severity: Severity | None = None
    next_update_in_minutes: int | None = Field(default=None, ge=5, le=1440)


Outcome = Literal["accepted", "queued", "unchanged"]


class Accepted(BaseModel):
    """202's body: `accepted` (Kafka has it), `queued` (the local outbox has it, Kafka is
    unreachable), `unchanged` (a repeated alert notification: nothing new to say)."""

    incident_id: str | None
    event_id: str | None
    status: Outcome
    received_at: datetime
