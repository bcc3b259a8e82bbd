"""The drafting job: writes the drafts incident events asked for, after they committed.

An incident event's handler commits the incident's state and its marketing pauses, so the
`channel paused` records leave without waiting for a template to render for every channel,
and leaves a request on the incident row (`draft_cause_id`, `draft_message`). The request
commits with the state that made it, so a crash loses none; the job (woken by that commit,
and every few seconds for what a crash left) renders the texts outside any write lock, then
stores them in a transaction that locks the incident row and checks the request is still
the same, so any router replica may take it and none writes it twice. The pause comes first:
while the incident consumer has a fetch in hand the job waits (`pauses_first`) before each
render and before taking the write lock, and it writes a few incidents per transaction, so a
fetch that arrives meanwhile waits for a short transaction at most. A burst of events for
one incident asks once: the latest event's draft is written, which is the one a duty manager
must see; the earlier drafts would have been superseded by it, and their updates are on the
timeline.
"""

import asyncio

from sqlalchemy import select

from services.router.context import RouterContext
from services.router.incidents import DraftTexts, draft_update, render_draft
from services.router.models import Draft, Incident
from shared.runtime.database import Database

BATCH = 10
"""Requests written per transaction: a storm's thousand incidents take 100 short turns at
SQLite's writer between the pauses instead of a thousand (a pause arriving during one waits
for ten incidents' drafts at most)."""


async def write_requested_drafts(
    ctx: RouterContext, database: Database, *, pauses_first: asyncio.Event | None = None
) -> int:
    """Write every requested draft, up to `BATCH` incidents per transaction, waiting for
    `pauses_first` (set while the incident consumer has no fetch in hand) before each step;
    returns how many requests were looked at."""
    written = 0
    while looked := await _write_some(ctx, database, pauses_first):
        written += looked
    return written


async def _after_pauses(pauses_first: asyncio.Event | None) -> None:
    await asyncio.sleep(0)  # CPU: let the consumer's pauses in between incidents
    if pauses_first is not None:
        await pauses_first.wait()


async def _write_some(
    ctx: RouterContext, database: Database, pauses_first: asyncio.Event | None
) -> int:
    """Render the oldest requests' texts outside the write lock, then store them, but not
    those whose request changed meanwhile (a newer event, or another replica took it: the
    next round looks again); returns how many requests were looked at."""
    await _after_pauses(pauses_first)
    async with database.reader() as session:
        incidents = (
            await session.scalars(
                select(Incident)
                .where(Incident.draft_cause_id.is_not(None))
                .order_by(Incident.updated_at, Incident.id)
                .limit(BATCH)
            )
        ).all()
    rendered: dict[str, tuple[str | None, str | None, DraftTexts]] = {}
    for incident in incidents:
        message = incident.draft_message
        texts = render_draft(ctx, incident, message=message, now=ctx.clock())
        rendered[incident.id] = (incident.draft_cause_id, message, texts)
        await _after_pauses(pauses_first)
    if not rendered:
        return 0
    async with database.transaction() as session:
        locked = await session.scalars(
            select(Incident)
            .where(Incident.id.in_(rendered))
            .order_by(Incident.id)
            .with_for_update()
        )
        causes = [cause for cause, _, _ in rendered.values() if cause is not None]
        written = set(
            await session.scalars(
                select(Draft.source_event_id).where(Draft.source_event_id.in_(causes))
            )
        )
        for incident in locked.all():
            cause_id, message, texts = rendered[incident.id]
            if cause_id is None or incident.draft_cause_id != cause_id:
                continue
            incident.draft_cause_id = None
            incident.draft_message = None
            if cause_id not in written:
                await draft_update(
                    ctx, session, incident, cause_id=cause_id, message=message, rendered=texts
                )
    return len(rendered)
