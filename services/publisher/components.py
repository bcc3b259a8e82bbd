"""The status page's components (`config/components.yaml`): lines, stations, apps, each with
the services and regions tags incidents carry, and the state each is in.

A component's state is derived, never set by hand: the worst state among the open incidents
that affect it (by severity, through the file's `states`) and the maintenance windows in
progress on it. An incident that names no services and no regions, or the region `all`,
affects every component: an incident of unknown scope is shown everywhere rather than
nowhere.
"""

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.channels import ChannelId
from shared.contract.config_files import load_yaml_model
from shared.contract.events import Severity, Tag


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


RANK = {state: rank for rank, state in enumerate(ComponentState)}
"""Worse states rank higher; maintenance is worse than nothing and better than any outage."""

LABELS = {
    ComponentState.OPERATIONAL: "Operational",
    ComponentState.UNDER_MAINTENANCE: "Under maintenance",
    ComponentState.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentState.PARTIAL_OUTAGE: "Partial outage",
    ComponentState.MAJOR_OUTAGE: "Major outage",
}

DEFAULT_STATES = {
    Severity.SEV1: ComponentState.MAJOR_OUTAGE,
    Severity.SEV2: ComponentState.PARTIAL_OUTAGE,
    Severity.SEV3: ComponentState.DEGRADED_PERFORMANCE,
    Severity.SEV4: ComponentState.DEGRADED_PERFORMANCE,
}


class Component(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: ChannelId
    name: str = Field(min_length=1, max_length=200)
    group: str | None = Field(default=None, max_length=200)
    services: list[Tag] = Field(default_factory=list)
    regions: list[Tag] = Field(default_factory=list)


class ComponentsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    components: list[Component] = Field(default_factory=list, max_length=500)
    states: dict[Severity, ComponentState] = Field(default_factory=lambda: dict(DEFAULT_STATES))

    def state_of(self, severity: Severity) -> ComponentState:
        return self.states.get(severity, DEFAULT_STATES[severity])

    def get(self, component_id: str) -> Component | None:
        return next((c for c in self.components if c.id == component_id), None)


def load_components(path: Path) -> ComponentsFile:
    """The file's components; none when the file is absent (the page then shows none)."""
    loaded = load_yaml_model(path, ComponentsFile, default=ComponentsFile())
    ids = [c.id for c in loaded.components]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{path}: component ids appear twice: {', '.join(duplicates)}")
    return loaded


def affects(component: Component, *, services: Iterable[str], regions: Iterable[str]) -> bool:
    """Whether an incident (or a maintenance window) with these tags touches `component`."""
    services, regions = set(services), set(regions)
    if (not services and not regions) or "all" in regions:
        return True
    return bool(services & set(component.services) or regions & set(component.regions))


def worst(states: Iterable[ComponentState]) -> ComponentState:
    return max(states, key=RANK.__getitem__, default=ComponentState.OPERATIONAL)
