"""Ingest's HTTP routes: thin, they validate and hand over to `incidents` and `alertmanager`."""

from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel

from services.ingest import alertmanager, incidents
from services.ingest.deps import (
    AlertCallerDep,
    IdempotencyKey,
    IntakeDep,
    MappingDep,
    OperatorDep,
)
from services.ingest.intake import Intake, Work, request_digest
from services.ingest.schemas import Accepted, IncidentCreate, IncidentUpdateIn
from shared.web.auth import Principal

router = APIRouter(prefix="/v1")

IncidentId = Annotated[
    str, Path(pattern=r"^inc_[0-9a-f]{20}$", description="The id returned when it was raised")
]


class _RouteOptions(TypedDict):
    """`APIRouter.post` keywords the write routes share; typed so FastAPI's signature checks."""

    status_code: int
    response_model: type[BaseModel]
    responses: dict[int | str, dict[str, Any]]


ACCEPTED: _RouteOptions = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": Accepted,
    "responses": {
        401: {"description": "No or unknown bearer token"},
        403: {"description": "The token's role may not do this"},
        413: {"description": "Body over 64 KiB"},
        415: {"description": "Body is not application/json"},
        422: {"description": "Invalid body, or Idempotency-Key reused with another body"},
        429: {"description": "Rate limit reached; see Retry-After"},
    },
}


async def _take(
    intake: Intake,
    work: Work,
    *,
    who: Principal,
    key: str | None,
    request: Request,
    body: BaseModel,
    response: Response,
) -> Accepted:
    """Run `work` once per idempotency key, flagging a replayed answer in a header."""
    answer, replayed = await intake.run(
        work,
        caller=who.name,
        key=key,
        digest=request_digest(request.url.path, body.model_dump(mode="json")),
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@router.post("/incidents", tags=["incidents"], **ACCEPTED)
async def raise_incident(
    body: IncidentCreate,
    who: OperatorDep,
    intake: IntakeDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Raise an incident; 202 once Kafka (or, when Kafka is down, the local outbox) has it."""
    return await _take(
        intake,
        lambda session: incidents.raise_incident(intake, session, body=body, by=who),
        who=who,
        key=idempotency_key,
        request=request,
        body=body,
        response=response,
    )


@router.post(
    "/incidents/{incident_id}/updates",
    tags=["incidents"],
    **ACCEPTED,
)
async def update_incident(
    incident_id: IncidentId,
    body: IncidentUpdateIn,
    who: OperatorDep,
    intake: IntakeDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Post a follow-up; `status: resolved` closes the incident (404 unknown, 409 resolved)."""
    return await _take(
        intake,
        lambda session: incidents.update_incident(
            intake, session, incident_id=incident_id, body=body, by=who
        ),
        who=who,
        key=idempotency_key,
        request=request,
        body=body,
        response=response,
    )


@router.post("/alerts/alertmanager", tags=["alerts"], **ACCEPTED)
async def alertmanager_webhook(
    payload: alertmanager.AmWebhook, who: AlertCallerDep, intake: IntakeDep, mapping: MappingDep
) -> Accepted:
    """Prometheus Alertmanager webhook (version 4): one incident per group key."""
    answer, _ = await intake.run(
        lambda session: alertmanager.handle_notification(
            intake, session, payload=payload, mapping=mapping, by=who
        ),
        caller=who.name,
        key=None,
        digest="",
    )
    return answer
