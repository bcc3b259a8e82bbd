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
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.group_commit import GroupCommit
from services.ingest.idempotency import Idempotency
from services.ingest.metrics import IngestMetrics
from services.ingest.models import IdempotencyRecord, IncidentRecord
from services.ingest.schemas import Accepted, Outcome
from shared.contract.errors import Conflict, NotFound
from shared.contract.events import CloudEvent, EventData, utcnow
from shared.runtime.database import OutboxEntry
from shared.runtime.service import Runtime
from shared.runtime.tracing import in_this_trace, with_trace

log = logging.getLogger(__name__)

SOURCE = "/planb/ingest"
_STAGED = "planb_ingest_staged"
_BATCH_KEYS = "planb_ingest_batch_keys"

Work = Callable[[AsyncSession], Awaitable[Accepted]]


def new_incident_id() -> str:
    return "inc_" + uuid.uuid4().hex[:20]


def request_digest(path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Staged:
    """An event this request wrote to the outbox, to send once the transaction commits."""

    row: OutboxEntry
    direct: bool
    """False when an older row of the same incident waits: the relay keeps their order."""
    held: bool = False

    @property
    def row_id(self) -> int:
        return self.row.id


@dataclass
class _Taken:
    """What a request's job left once its transaction committed."""

    answer: Accepted
    replayed: bool
    claim: IdempotencyRecord | None = None


class Intake:
    """Ingest's one way in: every route hands its work here."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: IngestMetrics,
        *,
        idempotency_ttl: timedelta,
        accept_wait: float = 1.0,
        batch_limit: int = 200,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.idempotency = Idempotency(ttl=idempotency_ttl)
        self.accept_wait = accept_wait
        self.writer = GroupCommit(
            runtime.database,
            spawn=runtime.spawn,
            max_jobs=batch_limit,
            on_batch=metrics.commit_batch.observe,
        )
        self._acked: list[int] = []
        self._forgetting: asyncio.Task[None] | None = None

    async def run(
        self, work: Work, *, caller: str, key: str | None, digest: str
    ) -> tuple[Accepted, bool]:
        """Do `work` once per idempotency key, in the writer's next transaction, then send
        what it staged; returns (answer, replayed)."""
        staged: list[Staged] = []
        claim = (caller, key) if key is not None else None
        began: list[bool] = []

        def flushed() -> None:
            """Hold the rows this request sends itself before the relay can read them."""
            for row in staged:
                if row.direct:
                    self.runtime.relay.hold(row.row_id, row.row.key)
                    row.held = True

        def undo() -> None:
            """Rolled back, or committed for a request that gave up: the relay sends it."""
            self._release(staged)
            staged.clear()
            if claim is not None and began:
                self.idempotency.end(claim, None)
                began.clear()

        async def job(session: AsyncSession) -> _Taken:
            session.info[_STAGED] = staged
            record: IdempotencyRecord | None = None
            if claim is not None:
                claimed = await self.idempotency.claim(
                    session, caller=caller, key=claim[1], digest=digest
                )
                if isinstance(claimed, Accepted):
                    return _Taken(claimed, replayed=True)
                record = claimed
                self.idempotency.begin(claim)
                began.append(True)
            answer = await work(session)
            if record is not None:
                record.response = answer.model_dump(mode="json")
            return _Taken(answer, replayed=False, claim=record)

        taken = await self.writer.run(in_this_trace(job), flushed=flushed, undo=undo)
        if taken.replayed:
            assert claim is not None
            self.metrics.events.labels("replayed").inc()
            return await self.idempotency.replay(claim, taken.answer), True
        answer = taken.answer
        try:
            if answer.status == "queued" and staged:
                claim_id = taken.claim.id if taken.claim is not None else None
                answer = await self._send(answer, staged, claim_id)
        finally:
            if claim is not None:
                self.idempotency.end(claim, answer)
        if answer.status == "queued":
            self.metrics.outbox_depth.inc()  # the relay sets the true depth as it drains
        self.metrics.events.labels(answer.status).inc()
        return answer, False

    async def submit(
        self, session: AsyncSession, incident_id: str, data: EventData, *, new: bool = False
    ) -> tuple[CloudEvent, Outcome]:
        """Stage the event in the outbox in the request's transaction (`queued`); `run` sends
        it after the commit unless an older event of the incident still waits there. A
        `new` incident has no older event: no need to look."""
        event = CloudEvent.wrap(data, source=SOURCE, subject=incident_id)
        in_batch: set[str] = session.info.setdefault(_BATCH_KEYS, set())
        waiting = incident_id in in_batch
        if not new and not waiting:
            with session.no_autoflush:  # this batch's own rows are in `in_batch`
                waiting = (
                    await session.scalar(
                        select(OutboxEntry.id).where(OutboxEntry.key == incident_id).limit(1)
                    )
                ) is not None
        in_batch.add(incident_id)
        row = OutboxEntry(
            topic=self.runtime.topics.incidents,
            key=incident_id,
            value=with_trace(event).to_bytes(),
            created_at=utcnow(),
        )
        session.add(row)  # flushed with the batch's others
        direct = not waiting and self._kafka_looks_up()
        session.info[_STAGED].append(Staged(row, direct))
        return event, "queued"

    def _kafka_looks_up(self) -> bool:
        return self.runtime.producer.connected.is_set() and self.runtime.relay.healthy

    async def _send(self, answer: Accepted, staged: list[Staged], claim_id: int | None) -> Accepted:
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
        if claim_id is not None:
            await self._record_answer(claim_id, accepted)
        return accepted

    async def _send_one(self, row: Staged) -> bool:
        """Hand one row to Kafka; runs on if the request stops waiting, so a late
        acknowledgement still spares the relay a second copy."""
        started = time.perf_counter()
        try:
            # No asyncio timeout: a cancelled send may still be delivered by the client. The
            # producer's own request timeout (KAFKA_REQUEST_TIMEOUT_MS) ends it for good.
            await self.runtime.producer.send_raw(row.row.topic, row.row.key, row.row.value)
        except KafkaError as exc:
            log.warning(
                "incident_id=%s Kafka send failed (%r); queued",
                row.row.key,
                exc,
                extra={"incident_id": row.row.key},
            )
            self.runtime.relay.suspect_broker()
            row.held = False
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
                await self.writer.run(_deleting(ids), undo=_nothing)
            finally:
                for row_id in ids:
                    self.runtime.relay.release(row_id, sent=True)

    async def _record_answer(self, claim_id: int, answer: Accepted) -> None:
        """A replay of this key answers as the first request did: `accepted`."""

        async def record(session: AsyncSession) -> None:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == claim_id)
                .values(response=answer.model_dump(mode="json"))
            )

        await self.writer.run(record, undo=_nothing)

    def _release(self, staged: list[Staged]) -> None:
        for row in staged:
            if row.held:
                row.held = False
                self.runtime.relay.release(row.row_id)

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


def _deleting(ids: list[int]) -> Callable[[AsyncSession], Awaitable[None]]:
    async def delete_rows(session: AsyncSession) -> None:
        await session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(ids)))

    return delete_rows


def _nothing() -> None:
    """Nothing to undo."""
