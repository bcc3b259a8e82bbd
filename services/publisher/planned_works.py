"""The publisher's side of planned works: it keeps each window as the router last described
it, learns its tags (so subscribers are matched like for an incident), and reads the windows
the page shows and the spans that put components under maintenance."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.component_board import Span
from services.publisher.components import ComponentState
from services.publisher.models import IncidentTags, PlannedWorks
from services.publisher.schemas_components import PlannedWorksOut
from shared.contract.events import CloudEvent, MaintenanceChanged, MaintenanceState, utcnow
from shared.runtime.consumer import Handler, payload_of

SHOWN = (MaintenanceState.SCHEDULED.value, MaintenanceState.IN_PROGRESS.value)


async def on_maintenance_changed(event: CloudEvent, session: AsyncSession) -> None:
    changed = payload_of(event, MaintenanceChanged)
    works = await session.get(PlannedWorks, changed.maintenance_id)
    if works is None:
        works = PlannedWorks(id=changed.maintenance_id)
        session.add(works)
    elif works.changed_at >= changed.changed_at:
        return  # an older description arriving late
    works.title = changed.title
    works.text = changed.text
    works.state = changed.state.value
    works.starts_at = changed.starts_at
    works.ends_at = changed.ends_at
    works.services = list(changed.affected.services)
    works.regions = list(changed.affected.regions)
    works.changed_at = changed.changed_at
    tags = await session.get(IncidentTags, changed.maintenance_id)
    if tags is None:
        tags = IncidentTags(incident_id=changed.maintenance_id)
        session.add(tags)
    tags.services, tags.regions, tags.updated_at = works.services, works.regions, utcnow()


def planned_works_handlers() -> dict[str, Handler]:
    return {MaintenanceChanged.event_type: on_maintenance_changed}


async def shown_works(session: AsyncSession) -> list[PlannedWorksOut]:
    """Upcoming and in-progress works, the soonest first."""
    rows = await session.scalars(
        select(PlannedWorks).where(PlannedWorks.state.in_(SHOWN)).order_by(PlannedWorks.starts_at)
    )
    return [PlannedWorksOut.model_validate(row) for row in rows]


async def works_spans(session: AsyncSession, *, since: datetime) -> list[Span]:
    """Each window that was not called off, as a span of `under_maintenance`: from its start
    to its end (or to when it was cancelled or ended early)."""
    rows = await session.scalars(
        select(PlannedWorks).where(
            PlannedWorks.state != MaintenanceState.SCHEDULED.value,
            or_(PlannedWorks.ends_at >= since, PlannedWorks.changed_at >= since),
        )
    )
    spans = []
    for works in rows:
        end: datetime | None = works.ends_at
        if works.state != MaintenanceState.IN_PROGRESS.value:
            end = min(works.ends_at, works.changed_at)
        if end is not None and end <= works.starts_at:
            continue  # cancelled before it began
        spans.append(
            Span(
                ComponentState.UNDER_MAINTENANCE,
                works.services,
                works.regions,
                works.starts_at,
                end,
            )
        )
    return spans


async def works_ids(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(PlannedWorks.id))).all())
