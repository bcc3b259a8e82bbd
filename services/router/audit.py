"""The audit log: every pause, resume, edit, approval and rejection, in the router's
database and on `planb.audit`."""

from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import SOURCE, RouterContext
from services.router.models import AuditEntry
from shared.contract.events import AuditRecorded, CloudEvent
from shared.runtime.database import stage_insert


def record_audit(
    ctx: RouterContext,
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    now = ctx.clock()
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            details=details or {},
            at=now,
        )
    )
    _emit(
        ctx,
        session,
        AuditRecorded(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            details=details or {},
            at=now,
        ),
    )


def _emit(ctx: RouterContext, session: AsyncSession, data: AuditRecorded) -> None:
    """The entry's record on `planb.audit`, keyed by the entity, staged in the transaction."""
    ctx.emit(
        session,
        topic=ctx.topics.audit,
        key=data.entity_id,
        event=CloudEvent.wrap(data, source=SOURCE, subject=data.entity_id),
    )


class Audited(NamedTuple):
    """One entry for `record_audits`."""

    entity_id: str
    details: dict[str, Any]


def record_audits(
    ctx: RouterContext,
    session: AsyncSession,
    entries: list[Audited],
    *,
    actor: str,
    action: str,
    entity_type: str,
) -> None:
    """Many entries of one action (a pause of 1,000 channels; a storm's pauses) staged for
    one multi-row INSERT at the commit: an ORM object each cost more than the pause itself."""
    if not entries:
        return
    now = ctx.clock()
    common = {"actor": actor, "action": action, "entity_type": entity_type, "at": now}
    stage_insert(
        session,
        AuditEntry,
        [{**common, "entity_id": e.entity_id, "details": e.details} for e in entries],
    )
    for entry in entries:
        _emit(
            ctx,
            session,
            AuditRecorded(
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity_id=entry.entity_id,
                details=entry.details,
                at=now,
            ),
        )
