"""The audit log: every pause, resume, edit, approval and rejection, in the router's
database and on `planb.audit`."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import SOURCE, RouterContext
from services.router.models import AuditEntry
from shared.contract.events import AuditRecorded, CloudEvent


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
    data = AuditRecorded(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details=details or {},
        at=now,
    )
    ctx.emit(
        session,
        topic=ctx.topics.audit,
        key=entity_id,
        event=CloudEvent.wrap(data, source=SOURCE, subject=entity_id),
    )
