"""Ingest's HTTP routes: thin, they validate and hand over to `intake`."""

from fastapi import APIRouter, Path, status

from services.ingest import intake
from services.ingest.deps import OperatorDep, RuntimeDep, SettingsDep
from services.ingest.schemas import Accepted, IncidentCreate, IncidentUpdateIn

router = APIRouter(prefix="/v1", tags=["incidents"])

IncidentId = Path(pattern=r"^inc_[0-9a-f]{20}$", description="Id returned when it was raised")


@router.post("/incidents", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def raise_incident(
    body: IncidentCreate, principal: OperatorDep, runtime: RuntimeDep, settings: SettingsDep
) -> Accepted:
    """Raise an incident; 202 once Kafka (or, when Kafka is down, the local outbox) has it."""
    incident_id = intake.new_incident_id()
    data = intake.incident_raised(incident_id, body, principal)
    event, outcome = await intake.submit(
        runtime, incident_id, data, settings.kafka_send_timeout_seconds
    )
    return Accepted(
        incident_id=incident_id, event_id=event.id, status=outcome, received_at=event.time
    )


@router.post(
    "/incidents/{incident_id}/updates",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
)
async def update_incident(
    body: IncidentUpdateIn,
    principal: OperatorDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    incident_id: str = IncidentId,
) -> Accepted:
    """Post a follow-up; `status: resolved` closes the incident."""
    data = intake.incident_changed(incident_id, body, principal)
    event, outcome = await intake.submit(
        runtime, incident_id, data, settings.kafka_send_timeout_seconds
    )
    return Accepted(
        incident_id=incident_id, event_id=event.id, status=outcome, received_at=event.time
    )
