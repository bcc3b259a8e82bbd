"""Request and response bodies of the marketing calendar, pause and resume API."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.channels import ChannelId, ChannelTags
from shared.contract.events import Instant, Tag
from shared.contract.plaintext import PublicText

PostState = Literal["scheduled", "emitted", "published", "held", "cancelled", "failed"]


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: ChannelId
    text: PublicText = Field(min_length=1, max_length=10_000)
    publish_at: Instant = Field(description="When to post (with a UTC offset)")
    campaign: Tag | None = Field(default=None, description="Optional campaign tag")


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    channel_id: str
    text: str
    campaign: str | None
    publish_at: datetime
    state: PostState
    message_id: str
    detail: str | None = Field(description="Why it is held or failed")
    url: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class PauseIn(BaseModel):
    """The big red button: pause marketing on every channel, or on some channels or tags."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="Why (shown on every channel)")
    channels: list[ChannelId] | None = Field(default=None, min_length=1, max_length=1000)
    tags: ChannelTags | None = Field(default=None, description="Channels with any of these tags")

    @model_validator(mode="after")
    def _one_scope(self) -> "PauseIn":
        if self.channels is not None and self.tags is not None:
            raise ValueError("give channels or tags, not both (neither pauses every channel)")
        return self


class PauseResult(BaseModel):
    paused: list[str] = Field(description="Channels paused by this request")
    held_posts: int = Field(description="Scheduled posts held on them")


class ResumeAction(StrEnum):
    SEND_NOW = "send_now"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    RESTORE = "restore"


class Choice(BaseModel):
    """What to do with held posts: send now, reschedule (to `at`, or spread over
    `spread_minutes` from `at` or now), cancel, or restore (posts whose time has not come keep
    it; overdue ones stay held)."""

    model_config = ConfigDict(extra="forbid")
    action: ResumeAction
    at: Instant | None = None
    spread_minutes: Annotated[int, Field(ge=1, le=10_080)] | None = None

    @model_validator(mode="after")
    def _reschedule_needs_time(self) -> "Choice":
        if self.action is ResumeAction.RESCHEDULE and self.at is None and not self.spread_minutes:
            raise ValueError("reschedule needs `at` or `spread_minutes`")
        if self.action is not ResumeAction.RESCHEDULE and (self.at or self.spread_minutes):
            raise ValueError("`at` and `spread_minutes` only go with reschedule")
        if self.at is not None:
            try:  # the last slot of the spread must be a time too
                self.at.astimezone(UTC) + timedelta(minutes=self.spread_minutes or 0)
            except OverflowError:
                raise ValueError("`at` plus `spread_minutes` is past the year 9999") from None
        return self


class PostChoice(Choice):
    post_id: str = Field(min_length=1, max_length=64)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[ChannelId] | None = Field(
        default=None, min_length=1, max_length=1000, description="These channels (all if omitted)"
    )
    all_posts: Choice | None = Field(
        default=None, description="The choice for every held post without its own"
    )
    posts: list[PostChoice] = Field(default_factory=list, max_length=10_000)
    note: str | None = Field(default=None, max_length=500)


class StillPaused(BaseModel):
    channel_id: str
    incident_ids: list[str]


class ResumeResult(BaseModel):
    resumed: list[str] = Field(description="Channels no pause holds any more")
    still_paused: list[StillPaused] = Field(description="Channels an open incident still pauses")
    sent: int
    rescheduled: int
    cancelled: int
    restored: int
    still_held: int = Field(description="Held posts left waiting for a decision")
