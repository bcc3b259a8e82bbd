"""Subscribers' delivery engine: a delivery kind of its own beside the channels' dispatcher.

Each status-page entry leaves a fan-out row in its own transaction; the notifier expands it
once into one `subscriber_notifications` row per matching subscriber (unique per subscriber
and message: the idempotency key), then sends them in claimed batches at
`SUBSCRIBER_SEND_RATE`, retrying temporary failures on the durable schedule and marking
bounces on the subscriber.

A batch is claimed (`sending`, committed) before anything is sent and settled after, so a
publisher killed mid-batch leaves its claims `sending`: once their lease is over, mail is
marked `failed` and never resent (a server gives no way to know whether it took it: decision
12's rule, at most one mail per subscriber and message), a webhook is sent again under the
same `Idempotency-Key`.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.protocol import ChannelError
from services.publisher.components import ComponentsFile
from services.publisher.models import (
    IncidentTags,
    Notification,
    NotificationState,
    Subscriber,
    SubscriberFanout,
    SubscriberState,
)
from services.publisher.notifier_batch import Claimed, Links, claim_batch, settle_batch
from services.publisher.schedule import RetryPolicy
from services.publisher.subscriber_notes import SubscriberSender
from services.publisher.subscriptions import wants
from shared.contract.events import utcnow
from shared.runtime.database import Database

log = logging.getLogger(__name__)

TAGS_WAIT = timedelta(seconds=60)
"""How long an update waits for its incident's tags before going to every subscriber."""


@dataclass
class Outcome:
    note_id: int
    error: ChannelError | None
    verified: str | None = None  # a webhook subscriber whose verification ping succeeded


class Notifier:
    def __init__(
        self,
        database: Database,
        *,
        senders: Mapping[str, SubscriberSender],
        components: ComponentsFile,
        links: Links,
        policy: RetryPolicy,
        rate: float,
        batch: int,
        poll_seconds: float = 1.0,
        lease_seconds: float = 30.0,
    ) -> None:
        self.database = database
        self.senders = dict(senders)
        self.components = components
        self.links = links
        self.policy = policy
        self.interval = 1.0 / rate
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.last_round_at: datetime | None = None
        self._next_slot = 0.0

    async def run(self) -> None:
        """The supervised loop: recover left claims, expand fan-outs, send, and rest when idle."""
        last_recovery = 0.0
        while True:
            if time.monotonic() - last_recovery > self.lease.total_seconds() / 2:
                await self.recover()
                last_recovery = time.monotonic()
            busy = 0
            if await self._work_waiting():
                busy = await self.expand() + await self.send_batch()
            self.last_round_at = utcnow()
            if not busy:
                await asyncio.sleep(self.poll_seconds)

    async def _work_waiting(self) -> bool:
        """A read first, so an idle notifier never takes the database's write lock."""
        async with self.database.reader() as session:
            fanout = await session.scalar(
                select(SubscriberFanout.message_id)
                .where(SubscriberFanout.expanded_at.is_(None))
                .limit(1)
            )
            due = await session.scalar(
                select(Notification.id)
                .where(
                    Notification.state == NotificationState.PENDING.value,
                    Notification.next_attempt_at <= utcnow(),
                )
                .limit(1)
            )
        return fanout is not None or due is not None

    async def expand(self) -> int:
        """Turn waiting fan-outs into notifications, each once; how many fan-outs were done."""
        now = utcnow()
        try:
            async with self.database.transaction() as session:
                fanouts = (
                    await session.scalars(
                        select(SubscriberFanout)
                        .where(SubscriberFanout.expanded_at.is_(None))
                        .order_by(SubscriberFanout.created_at)
                        .limit(10)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                done = 0
                for fanout in fanouts:
                    tags = await session.get(IncidentTags, fanout.incident_id)
                    if tags is None and fanout.created_at > now - TAGS_WAIT:
                        continue  # the incident's raised event is still on its way
                    await self._fan_out(session, fanout, tags=tags, now=now)
                    done += 1
                return done
        except IntegrityError:
            return 0  # another replica expanded it first; the unique key kept it once

    async def _fan_out(
        self,
        session: AsyncSession,
        fanout: SubscriberFanout,
        *,
        tags: IncidentTags | None,
        now: datetime,
    ) -> None:
        services = list(tags.services) if tags else []
        regions = list(tags.regions) if tags else []
        subscribers = (
            await session.scalars(
                select(Subscriber).where(Subscriber.state == SubscriberState.ACTIVE.value)
            )
        ).all()
        rows = [
            {
                "subscriber_id": s.id,
                "message_id": fanout.message_id,
                "state": NotificationState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for s in subscribers
            if s.kind in self.senders
            and wants(s, services=services, regions=regions, components=self.components)
        ]
        if rows:
            await session.execute(insert(Notification), rows)
        fanout.expanded_at = now
        log.info("message_id=%s to %d subscribers", fanout.message_id, len(rows))

    async def send_batch(self) -> int:
        """Claim up to a batch of due notifications, send them paced, settle them together."""
        async with self.database.transaction() as session:
            claimed = await claim_batch(
                session, limit=self.batch, kinds=list(self.senders), links=self.links
            )
        if not claimed:
            return 0
        outcomes = [await self._send(note) for note in claimed]
        async with self.database.transaction() as session:
            await settle_batch(
                session,
                outcomes=[(o.note_id, o.error) for o in outcomes],
                verified=[o.verified for o in outcomes if o.verified],
                policy=self.policy,
            )
        return len(claimed)

    async def _send(self, claimed: Claimed) -> Outcome:
        if claimed.note is None:
            return Outcome(claimed.id, claimed.refusal)
        await self._pace()
        try:
            await self.senders[claimed.kind].send(claimed.note)
        except ChannelError as exc:
            return Outcome(claimed.id, exc)
        verified = claimed.kind == "webhook" and claimed.note.update is None
        return Outcome(claimed.id, None, claimed.note.subscriber_id if verified else None)

    async def _pace(self) -> None:
        now = time.monotonic()
        self._next_slot = max(self._next_slot + self.interval, now)
        if self._next_slot > now:
            await asyncio.sleep(self._next_slot - now)

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()

    async def recover(self) -> int:
        """Claims whose lease ran out (their publisher died): webhooks again, mail failed."""
        cutoff = utcnow() - self.lease
        async with self.database.transaction() as session:
            stale = (
                select(Notification.id)
                .join(Subscriber, Subscriber.id == Notification.subscriber_id)
                .where(
                    Notification.state == NotificationState.SENDING.value,
                    Notification.claimed_at < cutoff,
                )
            )
            webhooks = stale.where(Subscriber.kind == "webhook")
            resent = await session.execute(
                update(Notification)
                .where(Notification.id.in_(webhooks.scalar_subquery()))
                .values(state=NotificationState.PENDING.value, next_attempt_at=utcnow())
            )
            failed = await session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(stale.scalar_subquery()),
                    Notification.state == NotificationState.SENDING.value,
                )
                .values(
                    state=NotificationState.FAILED.value,
                    error="the publisher stopped while sending; it may have gone, so it is "
                    "not sent again",
                    updated_at=utcnow(),
                )
            )
        count = int(getattr(resent, "rowcount", 0) or 0) + int(getattr(failed, "rowcount", 0) or 0)
        if count:
            log.warning("subscribers: %d claims left by a stopped publisher settled", count)
        return count
