"""Request and response bodies of the router's API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import Language
from shared.contract.plaintext import PublicText

DraftState = Literal["pending", "approved", "rejected", "superseded"]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DraftTextOut(Out):
    channel_id: str
    language: str = Field(description="The language this text is for (one of the channel's)")
    template_language: str | None = Field(
        description="The language its template was in: another than `language` when that "
        "translation is missing and the default language's text stands in"
    )
    text: str
    length: int = Field(description="The text's length as the channel's platform counts it")
    limit: int = Field(description="The channel's limit in the same unit")
    cut_chars: int = Field(
        description="How many characters the router cut to fit the limit (0 when none)"
    )
    message_id: str | None
    edited_by: str | None


class DraftOut(Out):
    id: str
    incident_id: str
    incident_status: str
    state: DraftState
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    holding: bool = Field(description="Drafted because a promised update time passed")
    overdue: bool = Field(description="Pending past the policy's escalation limit")
    overdue_at: datetime | None
    escalated_at: datetime | None
    age_seconds: int = Field(description="How long it has waited for a decision (or did)")
    texts: list[DraftTextOut]


class TimelineOut(Out):
    kind: str
    text: str
    actor: str | None
    at: datetime


class DeliveryOut(Out):
    message_id: str
    channel_id: str
    draft_id: str | None
    state: str
    detail: str | None
    url: str | None
    attempts: int
    updated_at: datetime


class PauseOut(Out):
    channel_id: str
    incident_id: str | None
    reason: str
    paused_by: str
    paused_at: datetime
    released_at: datetime | None
    released_by: str | None


class IncidentOut(Out):
    id: str
    title: str
    severity: str
    status: str
    summary: str | None
    customer_impact: str | None
    services: list[str]
    regions: list[str]
    external_ref: str | None
    next_update_at: datetime | None
    raised_by: str
    started_at: datetime
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class IncidentDetailOut(IncidentOut):
    timeline: list[TimelineOut]
    drafts: list[DraftOut]
    deliveries: list[DeliveryOut]
    pauses: list[PauseOut]
    truncated: list[str] = Field(
        default_factory=list,
        description="Lists cut to their newest 100 (drafts in full: GET /v1/drafts?incident_id=)",
    )


class DraftEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: str = Field(min_length=1, max_length=64)
    language: Language | None = Field(
        default=None, description="Which of the channel's languages (its main one if omitted)"
    )
    text: PublicText = Field(min_length=1, max_length=10_000)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only these channels (all if omitted): a channel's id approves all its "
        "languages, `channel:language` one of them",
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class ChannelOut(BaseModel):
    id: str
    type: str
    name: str
    marketing: bool
    paused: bool
    pauses: list[PauseOut]
    held_posts: int
    scheduled_posts: int
