"""Planned works: schedule (operator), list, extend and cancel (`maintenance.py`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from services.router import maintenance
from services.router.deps import AnyRoleDep, ContextDep, ReadSessionDep, WriteSessionDep
from services.router.models import MaintenanceWindow
from services.router.schemas_maintenance import CancelIn, ExtendIn, MaintenanceIn, MaintenanceOut
from shared.web.auth import Principal, Role
from shared.web.ops import require_role

router = APIRouter(prefix="/v1/maintenance", tags=["maintenance"])

OperatorDep = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
MaintenanceId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("", response_model=MaintenanceOut, status_code=201)
async def schedule(
    body: MaintenanceIn, session: WriteSessionDep, ctx: ContextDep, who: OperatorDep
) -> MaintenanceWindow:
    """Schedule planned works: the announcement is drafted for approval at once."""
    return await maintenance.create(ctx, session, body, by=who)


@router.get("", response_model=list[MaintenanceOut])
async def list_windows(
    session: ReadSessionDep,
    _: AnyRoleDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MaintenanceWindow]:
    """Planned works, the latest to start first."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc()).limit(limit)
    return list((await session.scalars(query)).all())


@router.post("/{maintenance_id}/extend", response_model=MaintenanceOut)
async def extend(
    maintenance_id: MaintenanceId,
    body: ExtendIn,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: OperatorDep,
) -> MaintenanceWindow:
    """Move the end later (the extension is announced like the rest)."""
    return await maintenance.extend(ctx, session, maintenance_id, ends_at=body.ends_at, by=who)


@router.post("/{maintenance_id}/cancel", response_model=MaintenanceOut)
async def cancel(
    maintenance_id: MaintenanceId,
    body: CancelIn,
    session: WriteSessionDep,
    ctx: ContextDep,
    who: OperatorDep,
) -> MaintenanceWindow:
    """Call the works off: pauses released, the cancellation announced."""
    return await maintenance.cancel(ctx, session, maintenance_id, reason=body.reason, by=who)
