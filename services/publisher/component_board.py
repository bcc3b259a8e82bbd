"""Each component's current state and its last 90 days, read from the status page's own
entries (so only approved, published incidents count) and the incidents' tags.

An incident counts from its first update on the page until its `resolved` update; its state
is its worst severity through the components file's `states`. Maintenance windows in
progress add `under_maintenance` (see `maintenance_windows`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.components import (
    LABELS,
    ComponentsFile,
    ComponentState,
    affects,
    worst,
)
from services.publisher.models import IncidentTags, PlannedWorks, StatusEntry
from services.publisher.schemas_components import ComponentDay, ComponentOut
from shared.contract.events import IncidentStatus, Severity

HISTORY_DAYS = 90


@dataclass(frozen=True)
class Span:
    """Something that puts components in a state from `start` until `end` (None: still on)."""

    state: ComponentState
    services: Sequence[str]
    regions: Sequence[str]
    start: datetime
    end: datetime | None


async def incident_spans(
    session: AsyncSession, *, components: ComponentsFile, since: datetime
) -> list[Span]:
    """Published incidents open now or ended after `since`, with what they affect; an
    incident whose tags the publisher has not seen yet affects no component until it has."""
    resolved_at = func.max(
        case((StatusEntry.status == IncidentStatus.RESOLVED.value, StatusEntry.published_at))
    )
    per_incident = (
        select(
            StatusEntry.incident_id.label("incident_id"),
            func.min(StatusEntry.published_at).label("start"),
            resolved_at.label("end"),
            func.min(StatusEntry.severity).label("severity"),
        )
        .where(StatusEntry.incident_id.not_in(select(PlannedWorks.id)))  # their own spans
        .group_by(StatusEntry.incident_id)
        .having(or_(resolved_at.is_(None), resolved_at >= since))
        .subquery()
    )
    rows = (
        await session.execute(
            select(
                per_incident.c.incident_id,
                per_incident.c.start,
                per_incident.c.end,
                per_incident.c.severity,
                IncidentTags.services,
                IncidentTags.regions,
            ).join(IncidentTags, IncidentTags.incident_id == per_incident.c.incident_id)
        )
    ).all()
    return [
        Span(
            state=components.state_of(Severity(severity)),
            services=services or [],
            regions=regions or [],
            start=start,
            end=end,
        )
        for _incident_id, start, end, severity, services, regions in rows
    ]


def component_board(
    components: ComponentsFile, spans: Sequence[Span], *, now: datetime
) -> list[ComponentOut]:
    """Every configured component with its state now and its worst state of each of the last
    `HISTORY_DAYS` UTC days, oldest first."""
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS - 1, -1, -1)]
    board = []
    for component in components.components:
        mine = [s for s in spans if affects(component, services=s.services, regions=s.regions)]
        current = worst(s.state for s in mine if s.start <= now and (s.end is None or s.end > now))
        history = [
            ComponentDay(day=day, state=worst(s.state for s in mine if _overlaps(s, day, now)))
            for day in days
        ]
        board.append(
            ComponentOut(
                id=component.id,
                name=component.name,
                group=component.group,
                state=current,
                label=LABELS[current],
                history=history,
            )
        )
    return board


def _overlaps(span: Span, day: date, now: datetime) -> bool:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    return span.start < end and (span.end or now) >= start
