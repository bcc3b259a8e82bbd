"""Turning accepted requests into events on `planb.incidents`, never losing one.

Each request runs in one database transaction: the incident registry is checked and updated,
the event is sent to Kafka and acknowledged (`accepted`) or, when Kafka can't take it now or
events are already waiting, staged in the outbox (`queued`), and an `Idempotency-Key`'s first
answer is stored. Queuing behind a non-empty outbox keeps an incident's events in order.
"""

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiokafka.errors import KafkaError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.metrics import IngestMetrics
from services.ingest.models import IdempotencyRecord, IncidentRecord
from services.ingest.schemas import Accepted, Outcome
from shared.db import OutboxEntry
from shared.events import CloudEvent, EventData, utcnow
from shared.outbox import add_to_outbox
from shared.problems import Problem
from shared.runtime import Runtime

log = logging.getLogger(__name__)

SOURCE = "/planb/ingest"

Work = Callable[[AsyncSession], Awaitable[Accepted]]


def new_incident_id() -> str:
    return "inc_" + uuid.uuid4().hex[:20]


def request_digest(path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Intake:
    """Ingest's one way in: every route hands its work here."""

    def __init__(
        self, runtime: Runtime, metrics: IngestMetrics, *, idempotency_ttl: timedelta
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.idempotency_ttl = idempotency_ttl

    async def run(
        self, work: Work, *, caller: str, key: str | None, digest: str
    ) -> tuple[Accepted, bool]:
        """Do `work` in a transaction, once per idempotency key; returns (answer, replayed)."""
        for _attempt in range(3):
            try:
                async with self.runtime.database.transaction() as session:
                    claim = None
                    if key is not None:
                        claim = await self._claim_key(session, caller, key, digest)
                        if isinstance(claim, Accepted):
                            self.metrics.events.labels("replayed").inc()
                            return claim, True
                    answer = await work(session)
                    if claim is not None:
                        claim.response = answer.model_dump(mode="json")
                self.metrics.events.labels(answer.status).inc()
                if answer.status == "queued":
                    self.runtime.relay.wake()
                return answer, False
            except IntegrityError:
                # a concurrent request with the same key won the race: answer as it did
                log.info("idempotency key race for caller %s; re-reading", caller)
        raise Problem(409, "Conflict", "The request conflicted with a concurrent one; retry it.")

    async def _claim_key(
        self, session: AsyncSession, caller: str, key: str, digest: str
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
            raise Problem(
                422,
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        return Accepted.model_validate(record.response)

    async def submit(
        self, session: AsyncSession, incident_id: str, data: EventData
    ) -> tuple[CloudEvent, Outcome]:
        """Send to Kafka now, or stage in the outbox when Kafka can't take it (or is behind)."""
        event = CloudEvent.wrap(data, source=SOURCE, subject=incident_id)
        topic = self.runtime.topics.incidents
        producer = self.runtime.producer
        backlog = await session.scalar(select(OutboxEntry.id).limit(1))
        if producer.connected.is_set() and backlog is None:
            started = time.perf_counter()
            try:
                # No asyncio timeout here: a cancelled send may still be delivered later by
                # the client, duplicating the outbox copy. The producer's own request timeout
                # (KAFKA_REQUEST_TIMEOUT_MS) ends the attempt for good.
                await producer.publish(topic, incident_id, event)
                self.metrics.produce_seconds.observe(time.perf_counter() - started)
                return event, "accepted"
            except KafkaError as exc:
                log.warning("incident_id=%s Kafka send failed (%r); queued", incident_id, exc)
                self.runtime.relay.suspect_broker()
        add_to_outbox(session, topic, incident_id, event)
        self.metrics.outbox_depth.inc()
        return event, "queued"

    async def open_record(self, session: AsyncSession, incident_id: str) -> IncidentRecord:
        """The incident if it can still be updated; 404 or 409 otherwise."""
        record = await session.get(IncidentRecord, incident_id, with_for_update=True)
        if record is None:
            raise Problem(404, "Incident not found", f"No incident {incident_id} was raised here.")
        if not record.open:
            raise Problem(
                409, "Incident resolved", f"Incident {incident_id} is resolved; raise a new one."
            )
        return record
