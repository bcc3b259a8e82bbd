"""The status page's components as its JSON shows them."""

from datetime import date

from pydantic import BaseModel

from services.publisher.components import ComponentState


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
