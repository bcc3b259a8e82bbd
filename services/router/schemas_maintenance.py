"""Bodies of the planned-works API (`POST /v1/maintenance` and its changes)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.events import Affected, Instant
from shared.contract.plaintext import PublicText


class MaintenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: PublicText = Field(min_length=1, max_length=200)
    starts_at: Instant = Field(description="When the works begin (with a UTC offset)")
    ends_at: Instant = Field(description="When they end (with a UTC offset)")
    affected: Affected = Field(
        default_factory=Affected, description="The services and regions the works touch"
    )
    text: PublicText | None = Field(
        default=None, max_length=2000, description="What customers are told (alternatives…)"
    )

    @model_validator(mode="after")
    def _window(self) -> "MaintenanceIn":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must come after starts_at")
        return self


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ends_at: Instant = Field(description="The new end, later than the current one")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


class MaintenanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    title: str
    text: str | None
    starts_at: datetime
    ends_at: datetime
    services: list[str]
    regions: list[str]
    state: str = Field(description="scheduled, in_progress, completed or cancelled")
    created_by: str
    created_at: datetime
    updated_at: datetime
