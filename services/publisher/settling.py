"""Settling one send: its outcome recorded on the delivery row and its report staged.

Apart from the per-channel worker (`dispatch.py`) because this is the one place a delivery
leaves `sending`, and the recovery at start settles through it too: published (advancing the
thread), back to pending with the durable retry schedule, or failed, each with its report
in the same transaction; and, in that transaction too, the channel's next claim (`then`).
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.protocol import Posted, RetryableChannelError
from services.publisher.claims import Claim
from services.publisher.group_commit import GroupCommit
from services.publisher.handlers import report_delivery
from services.publisher.metrics import PublisherMetrics
from services.publisher.models import Delivery, DeliveryState
from services.publisher.schedule import RetryPolicy
from services.publisher.threads import advance_thread, read_threads
from shared.contract.events import (
    DeliveryFailed,
    DeliveryOutcome,
    DeliveryPublished,
    DeliveryRetrying,
    MessageKind,
    PublishRequested,
    derived_id,
    utcnow,
)
from shared.contract.topics import Topics
from shared.runtime.tracing import resumed

log = logging.getLogger(__name__)

Then = Callable[[AsyncSession], Awaitable[Claim | float | None]]
_QUEUED = "planb_settle_queued_channels"


@dataclass(frozen=True, kw_only=True)
class Settler:
    """Records send outcomes for one dispatcher, with what its reports need."""

    commits: GroupCommit
    topics: Topics
    wake_relay: Callable[[], None]
    policy: RetryPolicy
    metrics: PublisherMetrics
    _settling: dict[str, PublishRequested | None] = field(default_factory=dict)
    """Settles queued or under way here: message id → its request (None: not published)."""

    async def settle(
        self,
        message_id: str,
        *,
        channel_id: str,
        posted: Posted | None = None,
        message: PublishRequested | None = None,
        failed: str | None = None,
        retry: RetryableChannelError | None = None,
        attempts: int = 0,
        then: Then | None = None,
    ) -> Claim | float | None:
        """Record the outcome of one send and stage its report, then run `then` (the
        channel's next claim), in one transaction (shared with other channels' settles and
        claims under way: `GroupCommit`); returns what `then` returned."""

        async def job(session: AsyncSession) -> Claim | float | None:
            queued = await self._read_ahead(session)
            # in the message's trace, whichever dispatcher's task runs the batch
            with resumed("settle", message_id=message_id, channel_id=channel_id):
                state = await self._record(
                    session,
                    message_id,
                    posted=posted,
                    message=message,
                    failed=failed,
                    retry=retry,
                    attempts=attempts,
                )
            if then is None or (state != DeliveryState.PENDING and channel_id not in queued):
                return None  # nothing to claim: no query for it
            return await then(session)

        self._settling[message_id] = message
        try:
            return await self.commits.run(channel_id, job)
        finally:
            self._settling.pop(message_id, None)

    async def _read_ahead(self, session: AsyncSession) -> set[str]:
        """Once per transaction, for every settle queued or under way: their rows and threads
        in two queries (their `get`s then read nothing), and a third for the channels that
        have a delivery queued (the others' next claim needs no query); returns those."""
        if (queued := session.info.get(_QUEUED)) is not None:
            return set(queued)
        settling = dict(self._settling)
        rows = await session.scalars(select(Delivery).where(Delivery.message_id.in_(settling)))
        channels = {row.channel_id for row in rows}
        await read_threads(session, [m for m in settling.values() if m is not None])
        query = select(Delivery.channel_id).where(
            Delivery.channel_id.in_(channels),
            Delivery.state == DeliveryState.PENDING.value,
            Delivery.request.is_not(None),
        )
        session.info[_QUEUED] = found = set(await session.scalars(query.distinct()))
        return found

    async def _record(
        self,
        session: AsyncSession,
        message_id: str,
        *,
        posted: Posted | None,
        message: PublishRequested | None,
        failed: str | None,
        retry: RetryableChannelError | None,
        attempts: int,
    ) -> str | None:
        """Record the outcome on the row: its new state (None: no such row)."""
        now = utcnow()
        if (row := await session.get(Delivery, message_id)) is None:
            return None
        give_up = failed
        if retry is not None:
            age = (now - row.created_at).total_seconds()
            if (why := self.policy.give_up_reason(attempts, age)) is not None:
                give_up = f"gave up {why}: {retry}"
        row.claimed_at = None
        row.updated_at = now
        ids = {
            "message_id": message_id,
            "channel_id": row.channel_id,
            "incident_id": row.incident_id,
        }
        if posted is not None and message is not None:
            row.state = DeliveryState.PUBLISHED.value
            row.remote_id, row.url, row.error = posted.remote_id, posted.url, None
            await advance_thread(session, message, posted)
            self.report(session, row, DeliveryPublished, remote_id=posted.remote_id, url=posted.url)
            log.info(
                "message_id=%s channel=%s published as %s",
                message_id,
                row.channel_id,
                posted.remote_id,
                extra=ids,
            )
        elif retry is not None and give_up is None:
            row.state = DeliveryState.PENDING.value
            row.error = str(retry)
            row.next_attempt_at = self.policy.next_attempt(now, attempts, retry.retry_after)
            self.report(
                session,
                row,
                DeliveryRetrying,
                error=str(retry),
                next_attempt_at=row.next_attempt_at,
            )
            log.warning(
                "message_id=%s channel=%s retry at %s: %s",
                message_id,
                row.channel_id,
                row.next_attempt_at,
                retry,
                extra=ids,
            )
        else:
            reason = give_up or "failed"
            row.state = DeliveryState.FAILED.value
            row.error = reason
            self.report(session, row, DeliveryFailed, error=reason)
            log.warning(
                "message_id=%s channel=%s failed: %s", message_id, row.channel_id, reason, extra=ids
            )
        return row.state

    def take_back(self, session: AsyncSession, row: Delivery, *, resend: bool) -> None:
        """A claim its process never settled (killed, or gone): send it again where the
        platform dedupes by idempotency key (`resend`), else fail it for a person to check,
        since sending again could show it twice."""
        if resend:
            row.state = DeliveryState.PENDING.value
            row.next_attempt_at = utcnow()
            log.warning(
                "message_id=%s channel=%s interrupted; resending", row.message_id, row.channel_id
            )
            return
        error = (
            "interrupted while sending; not sent again because this platform takes no "
            "idempotency key and could show it twice: check the channel"
        )
        self.report(session, row, DeliveryFailed, error=error)
        row.state = DeliveryState.FAILED.value
        row.error = error

    def report(
        self, session: Any, row: Delivery, model: type[DeliveryOutcome], **fields: Any
    ) -> None:
        outcome = model(
            message_id=row.message_id,
            channel_id=row.channel_id,
            kind=MessageKind(row.kind),
            incident_id=row.incident_id,
            post_id=row.post_id,
            attempts=row.attempts,
            at=utcnow(),
            **fields,
        )
        event_id = derived_id(row.message_id, "attempt", str(row.attempts), model.event_type)
        self.metrics.outcomes.labels(row.channel_id, outcome.event_type.split(".")[2]).inc()
        report_delivery(session, self.topics, outcome, event_id=event_id, wake=self.wake_relay)
