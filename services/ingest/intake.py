"""Turning accepted requests into events on `planb.incidents`, never losing one.

Each request's work runs in one short database transaction: the incident registry is checked
and updated, the event is written to the outbox and an `Idempotency-Key`'s answer is stored.
Only after that commits does the request hand the event to Kafka itself and wait, at most
ACCEPT_WAIT_MS, for the acknowledgement: `accepted` (the outbox row is then deleted), or
`queued` when Kafka is slow, failing or known to be down: the relay sends the row (in order
per incident) when Kafka can take it. No transaction is held across a network call, so a
hung broker costs each request at most the wait, and never blocks the others' commits.

While the request sends a row, the relay leaves it (and later rows of its incident) alone.
A row whose send outlives the wait is settled in the background when Kafka answers; if
another ingest replica's relay sends it meanwhile, the copy carries the same event id, which
consumers' inboxes drop (at least once, as docs/design.md says).
"""

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka.errors import KafkaError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.metrics import IngestMetrics
from services.ingest.models import IdempotencyRecord, IncidentRecord
from services.ingest.schemas import Accepted, Outcome
from shared.contract.errors import Conflict, NotFound, Rejected
from shared.contract.events import CloudEvent, EventData, utcnow
from shared.runtime.database import OutboxEntry
from shared.runtime.service import Runtime

log = logging.getLogger(__name__)

SOURCE = "/planb/ingest"
_STAGED = "planb_ingest_staged"

Work = Callable[[AsyncSession], Awaitable[Accepted]]


def new_incident_id() -> str:
    return "inc_" + uuid.uuid4().hex[:20]


def request_digest(path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Staged:
    """An event this request wrote to the outbox, to send once the transaction commits."""

    row_id: int
    topic: str
    key: str
    value: bytes
    direct: bool
    """False when an older row of the same incident waits: the relay keeps their order."""


class Intake:
    """Ingest's one way in: every route hands its work here."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: IngestMetrics,
        *,
        idempotency_ttl: timedelta,
        accept_wait: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.idempotency_ttl = idempotency_ttl
        self.accept_wait = accept_wait
        self._acked: list[int] = []
        self._forgetting: asyncio.Task[None] | None = None

    async def run(
        self, work: Work, *, caller: str, key: str | None, digest: str
    ) -> tuple[Accepted, bool]:
        """Do `work` in a transaction, once per idempotency key; returns (answer, replayed)."""
        for _attempt in range(3):
            staged: list[Staged] = []
            try:
                async with self.runtime.database.transaction() as session:
                    session.info[_STAGED] = staged
                    claim: IdempotencyRecord | None = None
                    if key is not None:
                        claimed = await self._claim_key(
                            session, caller=caller, key=key, digest=digest
                        )
                        if isinstance(claimed, Accepted):
                            self.metrics.events.labels("replayed").inc()
                            return claimed, True
                        claim = claimed
                    answer = await work(session)
                    if claim is not None:
                        claim.response = answer.model_dump(mode="json")
            except IntegrityError:
                self._release(staged)
                # a concurrent request with the same key won the race: answer as it did
                log.info("idempotency key race for caller %s; re-reading", caller)
                continue
            except BaseException:
                self._release(staged)
                raise
            if answer.status == "queued" and staged:
                answer = await self._send(answer, staged, claim)
            if answer.status == "queued":
                self.metrics.outbox_depth.inc()  # the relay sets the true depth as it drains
            self.metrics.events.labels(answer.status).inc()
            return answer, False
        raise Conflict("Conflict", "The request conflicted with a concurrent one; retry it.")

    async def submit(
        self, session: AsyncSession, incident_id: str, data: EventData
    ) -> tuple[CloudEvent, Outcome]:
        """Write the event to the outbox in the request's transaction (`queued`); `run` sends
        it after the commit unless an older event of the incident still waits there."""
        event = CloudEvent.wrap(data, source=SOURCE, subject=incident_id)
        topic = self.runtime.topics.incidents
        waiting = await session.scalar(
            select(OutboxEntry.id).where(OutboxEntry.key == incident_id).limit(1)
        )
        row = OutboxEntry(topic=topic, key=incident_id, value=event.to_bytes(), created_at=utcnow())
        session.add(row)
        await session.flush()
        direct = waiting is None and self._kafka_looks_up()
        if direct:
            self.runtime.relay.hold(row.id, incident_id)
        session.info[_STAGED].append(Staged(row.id, topic, incident_id, row.value, direct))
        return event, "queued"

    def _kafka_looks_up(self) -> bool:
        return self.runtime.producer.connected.is_set() and self.runtime.relay.healthy

    async def _send(
        self, answer: Accepted, staged: list[Staged], claim: IdempotencyRecord | None
    ) -> Accepted:
        """Send the committed rows; `accepted` if Kafka acknowledged them all in time."""
        direct = [row for row in staged if row.direct]
        if len(direct) < len(staged):
            self._release(direct)
            self.runtime.relay.wake()
            return answer
        tasks = [asyncio.create_task(self._send_one(row)) for row in direct]
        for task in tasks:
            self.runtime.track(task)  # a late ack still deletes its row before shutdown
        done, _ = await asyncio.wait(tasks, timeout=self.accept_wait)
        if len(done) < len(tasks) or not all(task.result() for task in done):
            self.runtime.relay.wake()
            return answer
        accepted = answer.model_copy(update={"status": "accepted"})
        if claim is not None:
            await self._record_answer(claim.id, accepted)
        return accepted

    async def _send_one(self, row: Staged) -> bool:
        """Hand one row to Kafka; runs on if the request stops waiting, so a late
        acknowledgement still spares the relay a second copy."""
        started = time.perf_counter()
        try:
            # No asyncio timeout: a cancelled send may still be delivered by the client. The
            # producer's own request timeout (KAFKA_REQUEST_TIMEOUT_MS) ends it for good.
            await self.runtime.producer.send_raw(row.topic, row.key, row.value)
        except KafkaError as exc:
            log.warning("incident_id=%s Kafka send failed (%r); queued", row.key, exc)
            self.runtime.relay.suspect_broker()
            self.runtime.relay.release(row.row_id)
            return False
        self.metrics.produce_seconds.observe(time.perf_counter() - started)
        self._acked.append(row.row_id)
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.create_task(self._forget_acked())
            self.runtime.track(self._forgetting)  # the answer needn't wait for the delete
        return True

    async def _forget_acked(self) -> None:
        """Delete acknowledged rows, many per transaction under load; the relay leaves each
        alone until then."""
        while self._acked:
            ids, self._acked = self._acked, []
            try:
                async with self.runtime.database.transaction() as session:
                    await session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(ids)))
            finally:
                for row_id in ids:
                    self.runtime.relay.release(row_id, sent=True)

    async def _record_answer(self, claim_id: int, answer: Accepted) -> None:
        """A replay of this key answers as the first request did: `accepted`."""
        async with self.runtime.database.transaction() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == claim_id)
                .values(response=answer.model_dump(mode="json"))
            )

    def _release(self, staged: list[Staged]) -> None:
        for row in staged:
            if row.direct:
                self.runtime.relay.release(row.row_id)

    async def _claim_key(
        self, session: AsyncSession, *, caller: str, key: str, digest: str
    ) -> IdempotencyRecord | Accepted:
        """A new record for this key (to hold the answer), or the first answer to replay."""
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.created_at < utcnow() - self.idempotency_ttl
            )
        )
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == caller, IdempotencyRecord.key == key
            )
        )
        if record is None:
            record = IdempotencyRecord(
                principal=caller, key=key, request_digest=digest, response={}, created_at=utcnow()
            )
            session.add(record)
            await session.flush()  # concurrent twins block here, then fail: no second event
            return record
        if record.request_digest != digest:
            raise Rejected(
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        return Accepted.model_validate(record.response)

    async def open_record(self, session: AsyncSession, incident_id: str) -> IncidentRecord:
        """The incident if it can still be updated; `NotFound` or `Conflict` otherwise."""
        record = await session.get(IncidentRecord, incident_id, with_for_update=True)
        if record is None:
            raise NotFound("Incident not found", f"No incident {incident_id} was raised here.")
        if not record.open:
            raise Conflict(
                "Incident resolved", f"Incident {incident_id} is resolved; raise a new one."
            )
        return record
