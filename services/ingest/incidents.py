"""Raising and updating incidents from the operators' API."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.intake import Intake, new_incident_id
from services.ingest.models import IncidentRecord
from services.ingest.schemas import Accepted, IncidentCreate, IncidentUpdateIn
from shared.contract.events import (
    EventData,
    IncidentRaised,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    utcnow,
)
from shared.web.auth import Principal


async def raise_incident(
    intake: Intake,
    session: AsyncSession,
    *,
    body: IncidentCreate,
    by: Principal,
) -> Accepted:
    answer, _ = await raise_record(intake, session, body=body, by=by)
    return answer


async def raise_record(
    intake: Intake,
    session: AsyncSession,
    *,
    body: IncidentCreate,
    by: Principal,
    source: str = "api",
    alert_digest: str | None = None,
) -> tuple[Accepted, IncidentRecord]:
    """Raise an incident; also returns its (not yet flushed) registry row."""
    now = utcnow()
    incident_id = new_incident_id()
    data = IncidentRaised(
        incident_id=incident_id,
        title=body.title,
        severity=body.severity,
        status=body.status,
        summary=body.summary,
        affected=body.affected,
        customer_impact=body.customer_impact,
        next_update_in_minutes=body.next_update_in_minutes,
        started_at=body.started_at or now,
        external_ref=body.external_ref,
        raised_by=by.name,
        raised_at=now,
    )
    record = IncidentRecord(
        id=incident_id,
        open=True,
        status=body.status.value,
        severity=body.severity.value,
        source=source,
        alert_digest=alert_digest,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    event, outcome = await intake.submit(session, incident_id, data, new=True)
    answer = Accepted(incident_id=incident_id, event_id=event.id, status=outcome, received_at=now)
    return answer, record


async def update_incident(
    intake: Intake,
    session: AsyncSession,
    *,
    incident_id: str,
    body: IncidentUpdateIn,
    by: Principal,
) -> Accepted:
    record = await intake.open_record(session, incident_id)
    now = utcnow()
    data = incident_change(incident_id, body, by)
    record.status = body.status.value
    record.open = body.status is not IncidentStatus.RESOLVED
    if body.severity is not None:
        record.severity = body.severity.value
    record.updated_at = now
    event, outcome = await intake.submit(session, incident_id, data)
    return Accepted(incident_id=incident_id, event_id=event.id, status=outcome, received_at=now)


def incident_change(incident_id: str, body: IncidentUpdateIn, by: Principal) -> EventData:
    now = utcnow()
    if body.status is IncidentStatus.RESOLVED:
        return IncidentResolved(
            incident_id=incident_id,
            message=body.message,
            customer_impact=body.customer_impact,
            resolved_by=by.name,
            resolved_at=now,
        )
    return IncidentUpdated(
        incident_id=incident_id,
        status=body.status,
        message=body.message,
        customer_impact=body.customer_impact,
        severity=body.severity,
        next_update_in_minutes=body.next_update_in_minutes,
        updated_by=by.name,
        updated_at=now,
    )
