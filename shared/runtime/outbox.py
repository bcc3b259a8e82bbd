"""Transactional outbox: events are committed with the state change that caused them, then a
relay sends them to Kafka in commit order and deletes them once acknowledged.

This is how a service that changes its database and emits an event never does one without
the other, even when killed between the two (the broker has no transactions to lean on).
A redelivered outbox row carries the same event id, so consumers' inboxes drop the copy.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiokafka.errors import KafkaConnectionError, KafkaError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import CloudEvent, utcnow
from shared.runtime.database import Database, OutboxEntry, after_commit, stage_insert
from shared.runtime.kafka import EventProducer
from shared.runtime.retry import Backoff, retrying
from shared.runtime.tracing import with_trace
from shared.runtime.wakeup import wait_for_wakeup

log = logging.getLogger(__name__)


def add_to_outbox(
    session: AsyncSession,
    *,
    topic: str,
    key: str,
    event: CloudEvent,
    wake: Callable[[], None] | None = None,
) -> None:
    """Stage an event in the caller's transaction; the relay sends it after commit.

    Staged rows are written in one multi-row INSERT just before the transaction commits
    (an ORM row each cost ~0.15 ms on SQLite: a pause of 10 channels stages 20), in the order
    they were staged (`stage_insert`). `wake` (the relay's) is called once the transaction
    commits, never if it rolls back.
    """
    value = with_trace(event).to_bytes()
    row = {"topic": topic, "key": key, "value": value, "created_at": utcnow()}
    stage_insert(session, OutboxEntry, [row])
    if wake is not None:
        after_commit(session, wake)


RELAY_BACKOFF = Backoff(base_seconds=0.2, max_seconds=10.0)


class OutboxRelay:
    """Drains the outbox to Kafka; `wake()` after a commit makes it send at once."""

    def __init__(
        self,
        database: Database,
        producer: EventProducer,
        *,
        batch_size: int = 1000,  # a pause of 1,000 channels stages its fences first: one batch
        idle_poll_seconds: float = 1.0,
        before_drain: Callable[[], Awaitable[None]] | None = None,
        missing_topics: Callable[[set[str]], Awaitable[set[str]]] | None = None,
        backoff: Backoff = RELAY_BACKOFF,
    ) -> None:
        self.database = database
        self.producer = producer
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.on_depth: Callable[[int], None] | None = None
        self.on_sent: Callable[[Sequence[OutboxEntry]], None] | None = None
        """Told of each batch once acknowledged (the router times its publish requests)."""
        self.before_drain = before_drain
        self.missing_topics = missing_topics
        self.last_error: str | None = None
        self.last_round_at: datetime | None = None
        self._suspect_broker = False
        self._wakeup = asyncio.Event()
        self._held: dict[int, str] = {}
        self._sent_while_reading: list[set[int]] = []
        """For each read of the outbox under way, the rows released as sent since it began."""
        self._blocked: set[str] = set()
        """Keys whose rows the last drain left behind a held row."""
        self._until_done = retrying(
            backoff=backoff,
            retry_on=(KafkaError, OperationalError, OSError, TimeoutError),
            on_retry=self._trouble,
        )

    def wake(self) -> None:
        self._wakeup.set()

    def hold(self, row_id: int, key: str) -> None:
        """This process is sending row `row_id` itself (ingest's answer path): skip it, and
        later rows of its key, so a key's events stay in order and the row goes once."""
        self._held[row_id] = key

    def release(self, row_id: int, *, sent: bool = False) -> None:
        """The sender is done with the row: acknowledged and its delete committed (`sent`),
        or the relay's to send now."""
        key = self._held.pop(row_id, None)
        if sent:
            for settled in self._sent_while_reading:
                settled.add(row_id)
        if key is not None and (not sent or key in self._blocked):
            self._wakeup.set()  # unsent, or a later row of its key waits behind it

    @property
    def healthy(self) -> bool:
        """The last drain reached Kafka and nobody has seen it fail since."""
        return not self._suspect_broker and self.last_error is None

    @property
    def in_flight(self) -> int:
        """Rows their writer is still sending itself (held from the relay until it is done)."""
        return len(self._held)

    def suspect_broker(self) -> None:
        """Someone saw Kafka fail: check (and recreate) topics before the next batch."""
        self._suspect_broker = True
        self._wakeup.set()

    async def depth(self) -> int:
        async with self.database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)

    async def run(self) -> None:
        """Relay until cancelled; backs off while Kafka or the database is unreachable."""
        while True:
            sent: int = await self._until_done(self._round)
            if sent:
                continue
            await wait_for_wakeup(self._wakeup, self.idle_poll_seconds)
            self._wakeup.clear()

    async def _round(self) -> int:
        if self._suspect_broker and self.before_drain is not None:
            await self.before_drain()
        sent = await self.drain_once()
        self.last_error = None
        self._suspect_broker = False
        self.last_round_at = utcnow()
        return sent

    def _trouble(self, exc: BaseException, wait: float) -> None:
        # After broker trouble, check its topics before sending again: a restarted memory
        # broker comes back empty, and would auto-create them wrongly.
        self._suspect_broker = True
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("outbox relay: %s; retrying in %.1fs", exc, wait)

    async def drain_once(self) -> int:
        """Send one batch in id order; rows are deleted only after every ack.

        Acks are trusted only if the topics exist afterwards (one metadata request a batch):
        a restarted memory broker acks records for topics it no longer has and drops them,
        so such a batch stays in the outbox, the topics are recreated and it is sent again.

        A row its sender released as sent while the read was under way is skipped: the read
        may have begun before the sender's delete committed, and so still return it.
        """
        settled: set[int] = set()
        self._sent_while_reading.append(settled)
        try:
            async with self.database.sessions() as session:
                rows = (
                    await session.scalars(
                        select(OutboxEntry).order_by(OutboxEntry.id).limit(self.batch_size)
                    )
                ).all()
        finally:
            self._sent_while_reading.remove(settled)
        held_keys = set(self._held.values())
        self._blocked = {row.key for row in rows if row.key in held_keys}
        rows = [
            row
            for row in rows
            if row.id not in self._held and row.id not in settled and row.key not in held_keys
        ]
        if not rows:
            return 0
        results = await self.producer.send_many([(row.topic, row.key, row.value) for row in rows])
        if self.missing_topics is not None:
            missing = await self.missing_topics({row.topic for row in rows})
            if missing:
                raise KafkaConnectionError(f"acked, but the broker lacks {sorted(missing)}")
        sent = [row.id for row, error in zip(rows, results, strict=True) if error is None]
        if self.on_sent is not None:
            self.on_sent([row for row, error in zip(rows, results, strict=True) if error is None])
        async with self.database.transaction() as session:
            await session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(sent)))
        failed = [error for error in results if error is not None]
        if failed:
            # only the failed records are sent again: acknowledged ones are not duplicated
            raise failed[0]
        if self.on_depth:
            self.on_depth(await self.depth())
        return len(sent)
