"""Claims to send, as leases: how replicas of the publisher share one deliveries table.

A dispatcher claims a delivery (`sending`, `claimed_at`) before its network call and renews
the claim while the call lasts. Another replica never claims on a channel where a live claim
is held (one send at a time per channel keeps a thread's posts in order), and a claim not
renewed for the lease was left by a process that died: any replica takes it back.

A claim is taken in whatever transaction is at hand: the dispatcher's own, or the one that
settles the channel's previous send (`claim_next`), so a busy channel costs one transaction
per post, not two.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.protocol import ThreadRef
from services.publisher.handlers import paused_reason
from services.publisher.models import Delivery, DeliveryState
from services.publisher.threads import thread_for, threads_for
from shared.contract.events import MessageKind, PublishRequested, PublishRequestedV2, utcnow
from shared.runtime.database import Database, try_lock_key
from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)

BUSY_POLL_SECONDS = 0.5
"""How soon to look again at a channel another replica is sending on."""

STATUS_FIRST = case((Delivery.kind == MessageKind.STATUS_UPDATE.value, 0), else_=1)

AnySelect = TypeVar("AnySelect", bound=Select[Any])
Fresh = tuple[Delivery, PublishRequested]
"""A delivery row new in the caller's transaction (not yet written) and its request."""
Hold = Callable[[AsyncSession, Delivery, str], None]
"""Stages the report of a delivery held by a pause (the settler's)."""


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A delivery this process claimed (`sending`, committed): the request, its attempt
    number and the thread it replies to, as read in the claiming transaction."""

    message: PublishRequested
    attempts: int
    thread: ThreadRef | None
    woke: datetime
    """When the round that claimed it began (the waterfall's `dispatcher_woke`)."""
    taken: float = field(default_factory=time.monotonic)


def oldest_pending(query: AnySelect, channel_id: str) -> AnySelect:
    """`query` narrowed to the channel's next delivery in send order (status updates first,
    then oldest): the one a claim takes, and the one the dispatcher's read checks is due."""
    return (
        query.where(
            Delivery.channel_id == channel_id,
            Delivery.state == DeliveryState.PENDING.value,
            Delivery.request.is_not(None),
        )
        .order_by(STATUS_FIRST, Delivery.created_at, Delivery.message_id)
        .limit(1)
    )


async def due_in(database: Database, channel_id: str) -> float | None:
    """Whether the channel has a delivery due, by a read: None when its queue is empty,
    else the seconds until its oldest is due (0: now). A worker woken for nothing mostly
    finds nothing; as a write it would wait its turn behind every other writer (SQLite
    admits one) and make them wait behind it."""
    query = oldest_pending(select(Delivery.next_attempt_at), channel_id)
    async with database.reader() as session:
        due = (await session.execute(query)).first()
    if due is None:
        return None
    now = utcnow()
    next_attempt_at: datetime | None = due[0]
    if next_attempt_at is not None and next_attempt_at > now:
        return float((next_attempt_at - now).total_seconds())
    return 0


async def claim_next(
    session: AsyncSession, channel_id: str, *, lease: timedelta, hold: Hold
) -> Claim | float | None:
    """In the caller's transaction, claim the channel's next delivery in send order: the
    `Claim`, or the seconds until it is due, or None when nothing is queued. A live claim
    anywhere on the channel (renewed within `lease`) means BUSY_POLL_SECONDS and no claim,
    and so does another transaction claiming there now: the caller's transaction may claim
    on several channels (group commit, a consumer's batch), so it never waits for a lock
    another such transaction could hold. A marketing post a pause now covers is held (its
    report staged by `hold`) on the way."""
    now = utcnow()
    if not await try_lock_key(session, f"dispatch:{channel_id}"):
        return BUSY_POLL_SECONDS
    query = oldest_pending(select(Delivery), channel_id).with_for_update(skip_locked=True)
    busy_checked = False  # only once something is due: a settle mostly finds nothing queued
    while (row := await session.scalar(query)) is not None:
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return (row.next_attempt_at - now).total_seconds()
        if not busy_checked and await sending_elsewhere(session, channel_id, now - lease):
            return BUSY_POLL_SECONDS
        busy_checked = True
        # v2 reads v1's JSON as well (no languages); a request stored as v2 keeps them
        message = PublishRequestedV2.model_validate_json(row.request or "")
        held = await paused_reason(session, message)
        if held is not None:
            row.state = DeliveryState.HELD.value
            hold(session, row, held)
            continue
        row.state = DeliveryState.SENDING.value
        row.claimed_at = now
        row.attempts += 1
        thread = await thread_for(session, message)
        return Claim(message=message, attempts=row.attempts, thread=thread, woke=now)
    return None


async def claim_fresh(
    session: AsyncSession,
    fresh: list[Fresh],
    *,
    may_claim: Callable[[str], bool],
) -> dict[str, Claim]:
    """In the caller's transaction, claim status updates it queues as new rows (not yet
    written, one per channel, with their requests) where nothing else is queued or sending
    on their channel, the channel's lock is free at once and `may_claim` agrees (the worker
    holds no claim and the channel may send): `claim_next`'s result for each, in three
    queries for them all instead of four each. By channel id; the rows claimed are `sending`
    when written."""
    candidates = [(row, m) for row, m in fresh if may_claim(row.channel_id)]
    if not candidates:
        return {}
    locked = [
        (row, m)
        for row, m in candidates
        if await try_lock_key(session, f"dispatch:{row.channel_id}")
    ]
    busy_query = select(Delivery.channel_id).where(
        Delivery.channel_id.in_([row.channel_id for row, _ in locked]),
        or_(
            and_(Delivery.state == DeliveryState.PENDING.value, Delivery.request.is_not(None)),
            Delivery.state == DeliveryState.SENDING.value,  # live or not: left to the worker
        ),
    )
    with session.no_autoflush:  # the rows are the caller's to write, as claimed or not
        busy = set(await session.scalars(busy_query)) if locked else set()
        free = [(row, m) for row, m in locked if row.channel_id not in busy]
        threads = await threads_for(session, [m for _, m in free])
    now = utcnow()
    claims = {}
    for row, message in free:
        row.state, row.claimed_at, row.attempts = DeliveryState.SENDING.value, now, row.attempts + 1
        key = (message.incident.incident_id if message.incident else "", message.channel_id)
        claims[row.channel_id] = Claim(
            message=message, attempts=row.attempts, thread=threads.get(key), woke=now
        )
    return claims


def expired_claim(renewed_before: datetime) -> ColumnElement[bool]:
    """A `sending` row's claim that nobody renewed since `renewed_before` (or never stamped)."""
    return or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < renewed_before)


async def sending_elsewhere(
    session: AsyncSession, channel_id: str, renewed_since: datetime
) -> bool:
    """Whether a live claim (renewed since `renewed_since`) is held on the channel; the
    caller holds the channel's lock, and settles its own sends before it claims again."""
    claim = await session.scalar(
        select(Delivery.message_id)
        .where(
            Delivery.channel_id == channel_id,
            Delivery.state == DeliveryState.SENDING.value,
            Delivery.claimed_at >= renewed_since,
        )
        .limit(1)
    )
    return claim is not None


async def keep_claim(
    database: Database, message_id: str, sent: asyncio.Event, *, renew_every: timedelta
) -> None:
    """Renew the claim on `message_id` every `renew_every` until `sent` is set, so however
    long a send lasts, no replica takes it for one a dead process left."""
    while True:
        await wait_for_wakeup(sent, renew_every.total_seconds())
        if sent.is_set():
            return
        try:
            async with database.transaction() as session:
                await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.message_id == message_id,
                        Delivery.state == DeliveryState.SENDING.value,
                    )
                    .values(claimed_at=utcnow())
                )
        except (OperationalError, OSError) as exc:
            log.warning("message_id=%s claim not renewed: %s", message_id, exc)
