"""The drafting job: writes the drafts incident events asked for, after they committed.

An incident event's handler commits the incident's state and its marketing pauses, so the
`channel paused` records leave without waiting for a template to render for every channel,
and leaves a request on the incident row (`draft_cause_id`, `draft_message`). The request
commits with the state that made it, so a crash loses none; the job (woken by that commit,
and every few seconds for what a crash left) renders the texts outside any write lock, then
stores them in a transaction that locks the incident row and checks the request is still
the same, so any router replica may take it and none writes it twice. A burst of events for
one incident asks once: the latest event's draft is written, which is the one a duty manager
must see; the earlier drafts would have been superseded by it, and their updates are on the
timeline.
"""

from sqlalchemy import select

from services.router.context import RouterContext
from services.router.incidents import draft_update, render_draft
from services.router.models import Draft, Incident
from shared.runtime.database import Database


async def write_requested_drafts(ctx: RouterContext, database: Database) -> int:
    """Write every requested draft, one incident per transaction; returns how many."""
    written = 0
    while await _write_one(ctx, database):
        written += 1
    return written


async def _write_one(ctx: RouterContext, database: Database) -> bool:
    """Render the oldest request's texts outside the write lock, then store them, unless the
    request changed meanwhile (a newer event, or another replica took it: look again)."""
    async with database.reader() as session:
        incident = await session.scalar(
            select(Incident)
            .where(Incident.draft_cause_id.is_not(None))
            .order_by(Incident.updated_at, Incident.id)
            .limit(1)
        )
    if incident is None:
        return False
    cause_id, message = incident.draft_cause_id, incident.draft_message
    rendered = render_draft(ctx, incident, message=message, now=ctx.clock())
    async with database.transaction() as session:
        locked = await session.get(Incident, incident.id, with_for_update=True)
        if locked is None or locked.draft_cause_id != cause_id:
            return True
        locked.draft_cause_id = None
        locked.draft_message = None
        assert cause_id is not None
        written = await session.scalar(select(Draft.id).where(Draft.source_event_id == cause_id))
        if written is None:
            await draft_update(
                ctx, session, locked, cause_id=cause_id, message=message, rendered=rendered
            )
    return True
