"""A fetch of `planb.outbound` taken together: an approval's status updates, set-based.

An approval stages one `publish requested` per channel, and they mostly arrive in one fetch.
Handled one by one, each costs its own queries (is it known, is its channel at rest, its
thread) before the fetch's transaction commits and the first send may start; here a fetch
of fresh status updates for distinct network channels costs a handful of queries in all, and
their rows are written (claimed where their channel is at rest) in one INSERT. Anything else
(pauses, marketing, a message seen before, two on one channel) goes record by record through
the per-type handlers (`handlers.py`), in fetch order, exactly as before.
"""

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels import ChannelError, ChannelRegistry
from services.publisher.claims import Fresh
from services.publisher.handlers import new_delivery
from services.publisher.models import Delivery, DeliveryState
from shared.contract.events import CloudEvent, MessageKind, PublishRequested, utcnow
from shared.runtime.database import after_commit
from shared.runtime.fetch import Handler, Handlers
from shared.runtime.tracing import handling, resumed
from shared.runtime.waterfall import Waterfall

HandOverFresh = Callable[[AsyncSession, list[Fresh]], Awaitable[None]]


def with_requests_together(
    handlers: Mapping[str, Handler],
    *,
    channels: ChannelRegistry,
    hand_over_fresh: HandOverFresh,
    waterfall: Waterfall,
) -> Handlers:
    """`handlers` with a `together` handler for a fetch: set-based when every event is a
    fresh status update for its own network channel, else record by record."""

    async def together(events: list[CloudEvent], session: AsyncSession) -> None:
        requests = _fresh_candidates(events, channels)
        if requests is not None:
            known = select(Delivery.message_id).where(
                Delivery.message_id.in_([r.message_id for r in requests])
            )
            if not (await session.scalars(known)).first():
                await _queue_together(session, requests, hand_over_fresh, waterfall)
                return
        for event in events:
            with handling(event):  # each in its own trace, as without `together`
                await handlers[event.type](event, session)

    return Handlers(handlers, together=together)


def _fresh_candidates(
    events: list[CloudEvent], channels: ChannelRegistry
) -> list[PublishRequested] | None:
    """The events as status updates for distinct network channels that take them, or None."""
    requests = [event.data for event in events]
    if not all(
        isinstance(r, PublishRequested)
        and r.kind is MessageKind.STATUS_UPDATE
        and channels.is_network(r.channel_id)
        for r in requests
    ):
        return None
    typed = [r for r in requests if isinstance(r, PublishRequested)]
    if len({r.channel_id for r in typed}) < len(typed):
        return None
    try:
        for request in typed:
            channels.check(request)
    except ChannelError:  # failed record by record, with its report
        return None
    return typed


async def _queue_together(
    session: AsyncSession,
    requests: list[PublishRequested],
    hand_over_fresh: HandOverFresh,
    waterfall: Waterfall,
) -> None:
    """Queue each request's delivery as the per-record handler would (`pending`, due now),
    claimed where its channel is at rest, and written in one INSERT at commit."""
    for request in requests:
        waterfall.mark("consumed", request.requested_at)
    now = utcnow()
    rows = []
    for request in requests:
        # a span in each request's own trace (the fetch's span only links them)
        with resumed("queue delivery", message_id=request.message_id):
            row = new_delivery(request)
            row.state, row.next_attempt_at = DeliveryState.PENDING.value, now
            row.request = request.model_dump_json()
            rows.append(row)
    await hand_over_fresh(session, list(zip(rows, requests, strict=True)))
    session.add_all(rows)

    def written() -> None:
        for request in requests:
            waterfall.mark("delivery_written", request.requested_at)

    after_commit(session, written)
