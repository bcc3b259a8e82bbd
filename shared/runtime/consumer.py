"""The consumer loop every service uses: at-least-once, idempotent, poison-proof.

A fetch's records are handled in one transaction with their event ids in the inbox (fetch.py):
a redelivered event finds its id there and changes nothing; should that fail, each record gets
its own. Offsets are committed once per fetch, after its records are handled or dead-lettered.

Failures split two ways:
- the record's fault (unparseable, unknown type, a handler raising `PermanentError` or any
  non-infrastructure error `max_attempts` times): dead-lettered, the loop moves on;
- the infrastructure's fault (database or broker unreachable): retried with backoff for as
  long as it takes, never committed past.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy.exc import IntegrityError
from tenacity import AsyncRetrying, RetryCallState, stop_when_event_set

from shared.contract.events import BadEvent, CloudEvent, EventData, parse_event, utcnow
from shared.runtime.consumer_stats import ConsumerStats
from shared.runtime.database import Database, InboxEntry
from shared.runtime.dead_letters import dead_letter
from shared.runtime.failures import INFRASTRUCTURE_ERRORS
from shared.runtime.fetch import Handler as Handler
from shared.runtime.fetch import Handlers as Handlers
from shared.runtime.fetch import Parsed, handle_together
from shared.runtime.kafka import EventProducer, MissingTopics
from shared.runtime.kafka_security import PLAINTEXT, KafkaSecurity
from shared.runtime.retry import Backoff, retrying
from shared.runtime.tracing import handling

log = logging.getLogger(__name__)

T = TypeVar("T", bound=EventData)


class PermanentError(Exception):
    """A handler's verdict that this record can never be handled: dead-letter it now."""


def payload_of(event: CloudEvent, model: type[T]) -> T:
    """The event's data as `model`; a handler registered for the wrong type is a bug."""
    if not isinstance(event.data, model):
        raise PermanentError(
            f"{event.type} carries {type(event.data).__name__}, not {model.__name__}"
        )
    return event.data


@dataclass
class ConsumerConfig:
    bootstrap_servers: str
    group_id: str
    topics: list[str]
    session_timeout_ms: int = 10_000
    fetch_max_wait_ms: int = 500
    """How long the broker may hold an empty fetch (the embedded broker: always; docs/broker.md)."""
    max_attempts: int = 3
    retry_base_seconds: float = 0.2
    retry_max_seconds: float = 10.0
    security: KafkaSecurity = PLAINTEXT
    require_existing_topics: bool = False
    """Subscribe only once the topics exist: a broker that auto-creates topics would create
    them with its defaults (production)."""


class EventConsumer:
    """Runs handlers for the event types in `handlers`; other types are acknowledged and skipped."""

    def __init__(
        self,
        config: ConsumerConfig,
        *,
        handlers: Mapping[str, Handler],
        database: Database,
        dlq_producer: EventProducer,
    ) -> None:
        self.config = config
        self.handlers = dict(handlers)
        self.together = handlers.together if isinstance(handlers, Handlers) else None
        self.database = database
        self.dlq_producer = dlq_producer
        self.stats = ConsumerStats()
        self._consumer: AIOKafkaConsumer | None = None
        self.idle = asyncio.Event()
        """Set while no fetch is in hand: background work that would compete with the
        records for the loop or the database may wait for it (the router's drafting)."""
        self.idle.set()
        self._stopping = asyncio.Event()
        self._backoff = Backoff(config.retry_base_seconds, config.retry_max_seconds)
        self._connection = retrying(
            backoff=self._backoff,
            retry_on=INFRASTRUCTURE_ERRORS,
            # tenacity types the event as threading.Event; it only calls is_set()
            stop=stop_when_event_set(self._stopping),  # type: ignore[arg-type]
            on_retry=self._note_trouble,
            wakes_on=self._stopping,
        )

    def request_stop(self) -> None:
        """Finish the batch in hand (its offsets committed), then leave the group and return:
        cancelling mid-commit would leave aiokafka's commit running against a closed client."""
        self._stopping.set()

    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self.config.topics,
            bootstrap_servers=self.config.bootstrap_servers,
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=max(100, self.config.session_timeout_ms // 10),
            fetch_max_wait_ms=self.config.fetch_max_wait_ms,
            max_poll_records=200,
            **self.config.security.client_options(),
        )

    async def run(self) -> None:
        """Consume until stopped (`request_stop`) or cancelled; reconnects after broker trouble."""
        while not self._stopping.is_set():
            try:
                consumer: AIOKafkaConsumer = await self._connection(self._connected_consumer)
            except INFRASTRUCTURE_ERRORS:
                return  # stopped while the broker was away
            self._consumer = consumer
            try:
                await self._consume(consumer)
            except INFRASTRUCTURE_ERRORS as exc:
                self._note_trouble(exc, 0.0)
            finally:
                self._consumer = None
                await _stop_quietly(consumer)

    async def _connected_consumer(self) -> AIOKafkaConsumer:
        """A started consumer, once its topics exist (where the service may not create them:
        asking for a missing topic would make the broker create it)."""
        if self.config.require_existing_topics:
            await self._require_topics()
        consumer = self._make_consumer()
        try:
            await consumer.start()
        except BaseException:
            await _stop_quietly(consumer)
            raise
        return consumer

    def _note_trouble(self, exc: BaseException, wait: float) -> None:
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("consumer %s: %s; retrying in %.1fs", self.config.group_id, exc, wait)

    async def _require_topics(self) -> None:
        """By the producer's metadata request for all topics, which creates none."""
        if missing := await self.dlq_producer.missing_topics(set(self.config.topics)):
            raise MissingTopics(missing)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            await self.stats.round_done(consumer)
            records = [record for batch in batches.values() for record in batch]
            if records:
                self.idle.clear()
                try:
                    await self._process_all(records)
                finally:
                    self.idle.set()
                # one commit (a round trip to the broker) for the whole fetch
                await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in batches.items()})

    async def _process_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """A fetch's records in one transaction; if that fails, one by one, the failing
        record's try (when known) counting as its first attempt."""
        if len(records) == 1:
            await self._process(records[0])
            return
        parsed: Parsed = []
        for record in records:
            try:
                parsed.append((record, parse_event(record.value)))
            except BadEvent as exc:  # never handleable: dead-lettered, the rest go on together
                await self._dead_letter(record, str(exc))
        outcome = await handle_together(
            self.database, self.handlers, parsed, together=self.together
        )
        self.stats.handled += outcome.handled
        self.stats.duplicates += outcome.duplicates
        self.stats.ignored += outcome.ignored
        if (failed := outcome.failed) is None:
            return
        for at, (record, _) in enumerate(parsed):
            await self._process(record, failed_once=failed.error if at == failed.at else None)

    async def _process(
        self, record: ConsumerRecord[bytes, bytes], *, failed_once: Exception | None = None
    ) -> None:
        """Handle one record in its own transaction (retried by `_record_policy`);
        `failed_once`: its first attempt, made together with other records, failed so."""
        try:
            event = parse_event(record.value)
        except BadEvent as exc:
            await self._dead_letter(record, str(exc))
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            self.stats.ignored += 1
            return
        try:
            if isinstance(failed_once, PermanentError):
                raise failed_once
            spent = 0 if failed_once is None or _not_the_records(failed_once) else 1
            if spent >= self.config.max_attempts:
                raise failed_once  # type: ignore[misc]  # spent > 0: it is set
            policy = self._record_policy(event, spent=spent)
            await policy(self._handle_once, event, record.topic, handler)
        except PermanentError as exc:
            await self._dead_letter(record, str(exc), event)
        except INFRASTRUCTURE_ERRORS:
            raise  # only when the policy stops for good, which it never does for these
        except Exception as exc:
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}", event)

    def _record_policy(self, event: CloudEvent, *, spent: int = 0) -> AsyncRetrying:
        """Infrastructure errors: retried for as long as it takes. The record's own errors:
        `max_attempts` tries (`spent` of them already made). `PermanentError`: none. A stop
        ends the first (the record stays uncommitted)."""
        max_attempts = self.config.max_attempts - spent

        def gives_up(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome is not None else None
            outage = isinstance(error, INFRASTRUCTURE_ERRORS)
            return self._stopping.is_set() if outage else state.attempt_number >= max_attempts

        def tell(error: BaseException, _wait: float) -> None:
            if isinstance(error, INFRASTRUCTURE_ERRORS):
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("event %s: infrastructure error %s; retrying", event.id, error)
            else:
                log.error("event %s (%s) failed", event.id, event.type, exc_info=error)

        return retrying(
            backoff=self._backoff,
            retry_on=(Exception,),
            never_on=(PermanentError,),
            stop=gives_up,
            on_retry=tell,
            wakes_on=self._stopping,
        )

    async def _handle_once(self, event: CloudEvent, topic: str, handler: Handler) -> None:
        try:
            with handling(event):
                async with self.database.transaction() as session:
                    session.add(InboxEntry(event_id=event.id, topic=topic, handled_at=utcnow()))
                    await session.flush()
                    await handler(event, session)
        except IntegrityError:
            async with self.database.sessions() as session:
                if await session.get(InboxEntry, event.id) is None:
                    raise
            self.stats.duplicates += 1
            log.info("event %s already handled; skipped", event.id)
            return
        self.stats.handled += 1

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: str, event: CloudEvent | None = None
    ) -> None:
        await dead_letter(
            self.dlq_producer,
            record,
            error,
            event=event,
            group=self.config.group_id,
            backoff=self._backoff,
            stopping=self._stopping,
        )
        self.stats.dead_lettered_from(record.topic)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for /readyz."""
        return {
            "group": self.config.group_id,
            "assigned_partitions": len(self.stats.assigned),
            "handled": self.stats.handled,
            "duplicates": self.stats.duplicates,
            "dead_lettered": self.stats.dead_lettered,
            "last_error": self.stats.last_error,
        }


def _not_the_records(error: BaseException) -> bool:
    """Infrastructure trouble, or a duplicate event id (a redelivery, which the record's own
    transaction recognises): no attempt of the record's spent."""
    return isinstance(error, (*INFRASTRUCTURE_ERRORS, IntegrityError))


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except Exception as exc:
        log.debug("consumer stop: %s", exc)
