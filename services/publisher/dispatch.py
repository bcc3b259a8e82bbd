"""The dispatcher: sends queued deliveries of network channels, outside any transaction.

One worker per channel, so a slow, failing or rate-limited platform never delays another.
Within a channel, deliveries go strictly oldest first (a follow-up never before the post it
replies to, even while that one waits for a retry); replicas take turns on a channel, one
send at a time (a per-channel lock around the claim), so the order holds across them too.
A `Retry-After` quiets the whole channel (up to the retry policy's `max_seconds`).

A delivery moves pending → sending (committed before the network call) → published, or back to
pending with `next_attempt_at` (the durable retry schedule), or failed. A claim is a lease
(`claims.py`): renewed while its send lasts; one not renewed for `lease_seconds` was left by a
dead process, and is sent again where the platform takes an idempotency key, else failed for a
person to check (trying again could post twice). How an outcome is recorded is in
`settling.py`; its transaction also claims the channel's next delivery, so a busy channel
costs one transaction per post.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.breaker import Breaker
from services.publisher.channels import ChannelRegistry
from services.publisher.channels.protocol import (
    Channel,
    ChannelError,
    OutgoingPost,
    RetryableChannelError,
)
from services.publisher.channels.retrying import post_with_retries
from services.publisher.claims import Claim, Fresh, claim_fresh, claim_next, due_in, keep_claim
from services.publisher.claims import expired_claim as expired
from services.publisher.group_commit import GroupCommit
from services.publisher.metrics import PublisherMetrics
from services.publisher.models import Delivery, DeliveryState
from services.publisher.schedule import RetryPolicy
from services.publisher.settling import Settler, Then
from shared.contract.events import DeliveryHeld, MessageKind, PublishRequested, utcnow
from shared.contract.topics import Topics
from shared.runtime.database import Database, after_commit
from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        database: Database,
        registry: ChannelRegistry,
        topics: Topics,
        wake_relay: Callable[[], None],
        *,
        policy: RetryPolicy,
        quick_attempts: int = 3,
        quick_max_wait: float = 5.0,
        idle_poll_seconds: float = 2.0,
        breaker_threshold: int = 5,
        breaker_cooldown_seconds: float = 60.0,
        lease_seconds: float = 30.0,
        metrics: PublisherMetrics | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.topics = topics
        self.wake_relay = wake_relay
        self.policy = policy
        self.quick_attempts = quick_attempts
        self.quick_max_wait = quick_max_wait
        self.idle_poll_seconds = idle_poll_seconds
        self.lease_seconds = lease_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.metrics = metrics or PublisherMetrics()
        self.commits = GroupCommit(database)
        self.settler = Settler(
            commits=self.commits,
            topics=topics,
            wake_relay=wake_relay,
            policy=policy,
            metrics=self.metrics,
        )
        self._wakeups = {channel_id: asyncio.Event() for channel_id in registry.network}
        self._quiet_until: dict[str, float] = {}  # monotonic: the platform's Retry-After
        self.last_round_at: dict[str, datetime] = {}  # by channel id, and "recovery"
        self._ahead: dict[str, Claim] = {}  # claimed by the channel's last settle, to send next
        self._sending: set[str] = set()  # channels with a send under way here
        self.breakers = {
            channel_id: Breaker(breaker_threshold, breaker_cooldown_seconds)
            for channel_id in registry.network
        }

    def wake(self, channel_id: str) -> None:
        if channel_id in self._wakeups:
            self._wakeups[channel_id].set()

    async def hand_over(self, session: AsyncSession, message: PublishRequested) -> None:
        """A network delivery was queued in `session` (the consumer's): its worker is woken
        once it commits. A status update on a channel at rest is claimed right there (its send
        waits for no transaction of its own); marketing is left to the worker."""
        channel_id = message.channel_id
        if channel_id not in self._wakeups:
            return
        claim: Claim | float | None = None
        tried: set[str] = session.info.setdefault("planb_claims_tried", set())
        if message.kind is MessageKind.STATUS_UPDATE and self._at_rest(channel_id, tried):
            tried.add(channel_id)  # once per transaction: a second try finds the first claim
            claim = await claim_next(session, channel_id, lease=self.lease, hold=self._hold)
        self._on_commit(
            session, {channel_id: claim} if isinstance(claim, Claim) else {}, [channel_id]
        )

    async def hand_over_fresh(self, session: AsyncSession, fresh: list[Fresh]) -> None:
        """Status updates new in `session`, one per network channel (the consumer's set-based
        path): claimed together where their channel is at rest (`claim_fresh`)."""
        claims = await claim_fresh(session, fresh, may_claim=lambda c: self._at_rest(c, set()))
        self._on_commit(session, claims, [row.channel_id for row, _ in fresh])

    def _on_commit(self, session: AsyncSession, claims: dict[str, Claim], woken: list[str]) -> None:
        """Once `session` commits: its claims are the workers' to send, `woken` woken."""

        def committed() -> None:
            self._ahead.update(claims)
            for channel_id in woken:
                self.wake(channel_id)

        after_commit(session, committed)

    def _at_rest(self, channel_id: str, tried: set[str]) -> bool:
        """Whether the channel's worker holds no claim and the channel may send."""
        return (
            channel_id not in tried
            and channel_id not in self._ahead
            and channel_id not in self._sending
            and self._quiet_seconds(channel_id) == 0
        )

    async def recover(self, *, expired_only: bool = False) -> int:
        """Settle deliveries a killed process left `sending`; returns how many. At start all
        of them; `expired_only`: the claims older than the lease, which no live replica holds."""
        query = select(Delivery).where(Delivery.state == DeliveryState.SENDING.value)
        if expired_only:
            query = query.where(expired(utcnow() - self.lease))
        async with self.database.transaction() as session:
            rows = (await session.scalars(query.with_for_update(skip_locked=True))).all()
            for row in rows:
                channel = self.registry.network.get(row.channel_id)
                self.settler.take_back(
                    session, row, resend=channel is not None and channel.idempotent
                )
        gone = {row.message_id for row in rows}  # no longer ours to send
        self._ahead = {c: a for c, a in self._ahead.items() if a.message.message_id not in gone}
        for channel_id in {row.channel_id for row in rows}:
            self.wake(channel_id)
        return len(rows)

    async def run_recovery(self) -> None:
        """Every half lease, take back what a replica that died left `sending`."""
        while True:
            await asyncio.sleep(self.lease_seconds / 2)
            try:
                await self.recover(expired_only=True)
                self.last_round_at["recovery"] = utcnow()
            except (OperationalError, OSError) as exc:
                log.warning("dispatcher recovery: %s; retrying", exc)

    async def run_channel(self, channel_id: str) -> None:
        """Work one channel's queue until cancelled."""
        wakeup = self._wakeups[channel_id]
        while True:
            wakeup.clear()
            try:
                _, wait = await self._round(channel_id)
                self.last_round_at[channel_id] = utcnow()
            except (OperationalError, OSError) as exc:
                log.warning("channel=%s dispatcher: %s; retrying", channel_id, exc)
                wait = self.idle_poll_seconds
            except Exception:  # a claim left `sending` is taken back when its lease runs out
                log.exception("channel=%s dispatcher round failed; retrying", channel_id)
                wait = self.idle_poll_seconds
            if wait == 0:
                continue
            timeout = self.idle_poll_seconds if wait is None else min(wait, self.idle_poll_seconds)
            await wait_for_wakeup(wakeup, timeout)

    async def dispatch_once(self, channel_id: str) -> float | None:
        """The channel's next delivery: 0 if sent, seconds until one is due, None: none."""
        sent, wait = await self._round(channel_id)
        return 0 if sent else wait

    async def _round(self, channel_id: str) -> tuple[bool, float | None]:
        """Send the channel's next delivery if due: whether one was sent, and when to look
        again (0: at once; seconds; None: when woken; a settle claims the next: `_ahead`)."""
        channel = self.registry.network[channel_id]
        claim = self._take_ahead(channel_id)
        if claim is None:
            if (quiet := self._quiet_seconds(channel_id)) > 0:
                return False, quiet
            if (due := await due_in(self.database, channel_id)) != 0:
                return False, due
            claimed = await self.commits.run(channel_id, self._claimer(channel_id))
            if not isinstance(claimed, Claim):
                return False, claimed
            claim = claimed
        message = claim.message
        stages = self.metrics.waterfall
        stages.mark("dispatcher_woke", message.requested_at, at=claim.woke)
        stages.mark("claimed", message.requested_at)
        post = OutgoingPost.of(message, reply_to=claim.thread)
        sent = asyncio.Event()
        keeper = asyncio.create_task(
            keep_claim(self.database, message.message_id, sent, renew_every=self.lease / 3)
        )
        self._sending.add(channel_id)
        try:
            after = await self._send(channel, message, post, attempts=claim.attempts)
        finally:
            sent.set()
            await keeper
            self._sending.discard(channel_id)
        if isinstance(after, Claim):
            self._ahead[channel_id] = after
            return True, 0
        return True, after

    def _take_ahead(self, channel_id: str) -> Claim | None:
        """The claim the channel's last settle took, unless it is too old to trust: a claim
        nobody renewed for half a lease may be taken back by the recovery any moment."""
        claim = self._ahead.pop(channel_id, None)
        if claim is not None and time.monotonic() - claim.taken > self.lease_seconds / 2:
            log.warning("message_id=%s claim too old to send; left to the lease", claim)
            return None
        return claim

    def _quiet_seconds(self, channel_id: str) -> float:
        """How long the channel must rest: its breaker's or the platform's Retry-After (0: none)."""
        asked = self._quiet_until.get(channel_id, 0.0) - time.monotonic()
        return max(self.breakers[channel_id].wait_seconds(), asked, 0.0)

    def _then_claim(self, channel_id: str) -> Then | None:
        """The next claim for a settle's transaction, unless the channel must rest."""
        return None if self._quiet_seconds(channel_id) > 0 else self._claimer(channel_id)

    def _claimer(self, channel_id: str) -> Then:
        async def claim(session: AsyncSession) -> Claim | float | None:
            return await claim_next(session, channel_id, lease=self.lease, hold=self._hold)

        return claim

    def _hold(self, session: AsyncSession, row: Delivery, reason: str) -> None:
        self.settler.report(session, row, DeliveryHeld, reason=reason)

    async def _send(
        self, channel: Channel, message: PublishRequested, post: OutgoingPost, *, attempts: int
    ) -> Claim | float | None:
        """Send, settle the outcome and claim the channel's next (what the settle returned)."""
        channel_id = channel.channel_id
        breaker = self.breakers[channel_id]
        stages = self.metrics.waterfall

        async def settle(**outcome: Any) -> Claim | float | None:
            then = self._then_claim(channel_id)  # once the breaker and Retry-After are known
            return await self.settler.settle(
                message.message_id, channel_id=channel_id, then=then, **outcome
            )

        stages.mark("send_started", message.requested_at)
        started = time.perf_counter()
        try:
            posted = await post_with_retries(
                channel, post, attempts=self.quick_attempts, max_wait=self.quick_max_wait
            )
        except RetryableChannelError as exc:
            breaker.failed(str(exc))
            if exc.retry_after is not None:
                wait = min(exc.retry_after, self.policy.max_seconds)
                self._quiet_until[channel_id] = time.monotonic() + wait
            return await settle(retry=exc, attempts=attempts)
        except ChannelError as exc:  # any other is permanent
            breaker.succeeded()  # the platform answered: it is up, it just refused this one
            return await settle(failed=str(exc))
        except Exception as exc:  # an adapter bug: retried on schedule, never silently lost
            log.exception("message_id=%s channel=%s adapter error", message.message_id, channel_id)
            retry = RetryableChannelError(repr(exc))
            return await settle(retry=retry, attempts=attempts)
        else:
            breaker.succeeded()
            stages.mark("send_finished", message.requested_at)
            self.metrics.send_seconds.labels(channel_id).observe(time.perf_counter() - started)
            after = await settle(posted=posted, message=message)
            stages.mark("settled", message.requested_at)
            return after
        finally:
            self.metrics.breaker_open.labels(channel_id).set(1 if breaker.state == "open" else 0)
