"""Claims to send, as leases: how replicas of the publisher share one deliveries table.

A dispatcher claims a delivery (`sending`, `claimed_at`) before its network call and renews
the claim while the call lasts. Another replica never claims on a channel where a live claim
is held (one send at a time per channel keeps a thread's posts in order), and a claim not
renewed for the lease was left by a process that died: any replica takes it back.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.models import Delivery, DeliveryState
from shared.contract.events import utcnow
from shared.runtime.database import Database
from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)

BUSY_POLL_SECONDS = 0.5
"""How soon to look again at a channel another replica is sending on."""


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
