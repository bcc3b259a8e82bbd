"""Token issues, rotations and revocations into the audit log.

Whoever changes a personal token (the admin API, `planb tokens`) leaves an `AccountEvent`
in the same transaction; this moves each into the audit log and onto `planb.audit`, in one
transaction with its deletion, so each is audited exactly once. The admin API calls it in
its own transaction; a periodic job picks up what the command line wrote.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import record_audit
from services.router.context import RouterContext
from shared.runtime.database import Database
from shared.web.accounts import AccountEvent

BATCH = 500


async def move_account_events(ctx: RouterContext, session: AsyncSession) -> int:
    """Audit the waiting events (a replica running this meanwhile skips the rows we hold)."""
    query = select(AccountEvent).order_by(AccountEvent.id).limit(BATCH)
    rows = (await session.scalars(query.with_for_update(skip_locked=True))).all()
    for row in rows:
        record_audit(
            ctx,
            session,
            actor=row.actor,
            action=row.action,
            entity_type="token",
            entity_id=row.name,
            details=row.details | {"at": row.at.isoformat()},
        )
        await session.delete(row)
    return len(rows)


async def audit_account_events(ctx: RouterContext, database: Database) -> float | None:
    """One round of the periodic job: all that waits, a batch per transaction. A read looks
    first, so a quiet round never queues for SQLite's writer."""
    async with database.reader() as session:
        if await session.scalar(select(AccountEvent.id).limit(1)) is None:
            return None
    moved = BATCH
    while moved == BATCH:
        async with database.transaction() as session:
            moved = await move_account_events(ctx, session)
    return None
