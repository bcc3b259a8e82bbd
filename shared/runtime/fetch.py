"""A fetch's records in one transaction: one commit and one turn at SQLite's writer for all
of them, one query for the inbox, and, for a service that registers one, a `together`
handler that takes every event of the fetch at once (set-based work)."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import CloudEvent, utcnow
from shared.runtime.database import Database, InboxEntry, stage_insert
from shared.runtime.tracing import handling, handling_together

Handler = Callable[[CloudEvent, AsyncSession], Awaitable[None]]
TogetherHandler = Callable[[list[CloudEvent], AsyncSession], Awaitable[None]]
Parsed = list[tuple[ConsumerRecord[bytes, bytes], CloudEvent]]


class Handlers(dict[str, Handler]):
    """A consumer's handlers by event type, and `together`: one call for all the events of a
    fetch these types take, in fetch order (set-based: a storm's thousand incidents in a few
    statements). Should it raise, the fetch is rolled back and its records handled one by
    one by the per-type handlers, which must do the same."""

    def __init__(self, handlers: Mapping[str, Handler], *, together: TogetherHandler) -> None:
        super().__init__(handlers)
        self.together = together


class Failed(NamedTuple):
    """A fetch's transaction failed: at which of its records (None: not known), and how."""

    at: int | None
    error: Exception


@dataclass
class Outcome:
    handled: int = 0
    duplicates: int = 0
    ignored: int = 0
    failed: Failed | None = None


async def handle_together(
    database: Database,
    handlers: Mapping[str, Handler],
    parsed: Parsed,
    *,
    together: TogetherHandler | None,
) -> Outcome:
    """Every event of `parsed` a handler takes, in one transaction with its inbox row;
    redeliveries (in the inbox, or twice in the fetch) skipped."""
    events = [(at, r.topic, e) for at, (r, e) in enumerate(parsed) if e.type in handlers]
    at: int | None = None
    try:
        async with database.transaction() as session:
            fresh = await _not_yet_handled(session, events)
            now = utcnow()
            inbox = [{"event_id": e.id, "topic": t, "handled_at": now} for _, t, e in fresh]
            stage_insert(session, InboxEntry, inbox)
            if together is not None:
                with handling_together([e for _, _, e in fresh]):
                    await together([e for _, _, e in fresh], session)
            else:
                for at, _, event in fresh:  # noqa: B007 (`at` tells which failed)
                    with handling(event):
                        await handlers[event.type](event, session)
                at = None  # a failing commit is no one record's
    except Exception as exc:
        return Outcome(failed=Failed(at, exc))
    return Outcome(len(fresh), len(events) - len(fresh), len(parsed) - len(events))


async def _not_yet_handled(
    session: AsyncSession, events: list[tuple[int, str, CloudEvent]]
) -> list[tuple[int, str, CloudEvent]]:
    """`events` less those in the inbox already and repeats within the fetch, in one query."""
    ids = [e.id for _, _, e in events]
    known = set(
        await session.scalars(select(InboxEntry.event_id).where(InboxEntry.event_id.in_(ids)))
    )
    fresh = []
    for item in events:
        if item[2].id not in known:
            known.add(item[2].id)
            fresh.append(item)
    return fresh
