"""The status page's components as its JSON shows them."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from services.publisher.components import ComponentState
from shared.contract.plaintext import PublicText


class ComponentDay(BaseModel):
    """The worst state a component was in on one UTC day."""

    day: date
    state: ComponentState


class ComponentOut(BaseModel):
    """A component now (`state`, `label` for people) and its last 90 days, oldest first."""

    id: str
    name: str
    group: str | None
    state: ComponentState
    label: str
    history: list[ComponentDay]


class PlannedWorksOut(BaseModel):
    """Planned works as the page shows them: `scheduled` (upcoming) or `in_progress`."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    title: PublicText
    text: PublicText | None
    state: str
    starts_at: datetime
    ends_at: datetime
    services: list[str]
    regions: list[str]
    changed_at: datetime
