"""The shared consumer loop on a real broker and database: dead letters and idempotency."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import AuditRecorded, CloudEvent
from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS
from shared.runtime.consumer import ConsumerConfig, EventConsumer, PermanentError
from shared.runtime.database import Database, InboxEntry
from shared.runtime.kafka import EventProducer, ensure_topics
from tests.support import eventually, read_records

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


def audit(entity_id: str) -> CloudEvent:
    data = AuditRecorded(
        actor="tester", action="poke", entity_type="thing", entity_id=entity_id, at=NOW
    )
    return CloudEvent.wrap(data, source="/tests", subject=entity_id)


@pytest.fixture
async def producer(bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    running = EventProducer(bootstrap_servers, client_id="tests")
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.create_all()
    yield db
    await db.dispose()


async def read_dlq(
    bootstrap_servers: str, topic: str, count: int
) -> list[tuple[bytes, dict[str, bytes]]]:
    records = await read_records(bootstrap_servers, Topics.dlq(topic), count)
    return [(r.value or b"", dict(r.headers)) for r in records]


async def test_poison_records_go_to_the_dead_letter_topic_and_the_loop_goes_on(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    seen: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        seen.append(event.subject or "")

    consumer = EventConsumer(
        ConsumerConfig(
            bootstrap_servers,
            f"{topic_prefix}-g",
            [topics.audit],
            session_timeout_ms=6000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        ),
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        dlq_producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await producer.send_raw(topics.audit, "k", b"{not json")
        first = audit("first")
        await producer.publish(topics.audit, "k", first)
        await producer.publish(topics.audit, "k", first)  # redelivery: same event id
        await producer.publish(topics.audit, "k", audit("second"))

        async def both_seen() -> bool:
            return len(seen) >= 2

        await eventually(both_seen, what="two handled events")
        letters = await read_dlq(bootstrap_servers, topics.audit, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert seen == ["first", "second"]
    assert consumer.stats.duplicates == 1
    value, headers = letters[0]
    assert value == b"{not json"
    assert headers["planb-error"].decode().startswith("not a CloudEvent")
    assert headers["planb-source-topic"].decode() == topics.audit


async def test_a_handler_that_keeps_failing_is_dead_lettered_and_its_effects_rolled_back(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    attempts: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        attempts.append(event.subject or "")
        if event.subject == "bad":
            raise ValueError("cannot handle this one")
        if event.subject == "hopeless":
            raise PermanentError("never handleable")

    consumer = EventConsumer(
        ConsumerConfig(
            bootstrap_servers,
            f"{topic_prefix}-g",
            [topics.audit],
            session_timeout_ms=6000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_attempts=3,
            retry_base_seconds=0.01,
        ),
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        dlq_producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:
        for subject in ("bad", "hopeless", "good"):
            await producer.publish(topics.audit, "k", audit(subject))

        async def good_seen() -> bool:
            return "good" in attempts

        await eventually(good_seen, what="the good event after the bad ones")
        letters = await read_dlq(bootstrap_servers, topics.audit, 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert attempts == ["bad", "bad", "bad", "hopeless", "good"]
    errors = sorted(h["planb-error"].decode() for _, h in letters)
    assert errors == ["ValueError: cannot handle this one", "never handleable"]
    subjects = sorted(json.loads(v)["subject"] for v, _ in letters)
    assert subjects == ["bad", "hopeless"]
    # the failed attempts' inbox rows were rolled back: a fixed handler could still take them
    async with database.sessions() as session:
        handled = (await session.scalars(select(InboxEntry.topic))).all()
    assert handled == [topics.audit]


def audit_consumer(
    bootstrap_servers: str,
    group: str,
    topic: str,
    on_audit: Callable[[CloudEvent, AsyncSession], Awaitable[None]],
    *,
    database: Database,
    producer: EventProducer,
) -> EventConsumer:
    return EventConsumer(
        ConsumerConfig(
            bootstrap_servers,
            group,
            [topic],
            session_timeout_ms=6000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_attempts=2,
            retry_base_seconds=0.01,
        ),
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        dlq_producer=producer,
    )


async def test_a_handlers_file_not_found_is_dead_lettered_not_retried_for_ever(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    """Any OSError counted as the infrastructure's: a missing file was retried for ever and
    held its partition. Only the network's and the database's errors are."""
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    attempts: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        attempts.append(event.subject or "")
        if event.subject == "needs-a-file":
            raise FileNotFoundError(2, "No such file or directory", "/nowhere/template.j2")

    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        on_audit,
        database=database,
        producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:
        for subject in ("needs-a-file", "good"):
            await producer.publish(topics.audit, "k", audit(subject))

        async def good_seen() -> bool:
            return "good" in attempts

        await eventually(good_seen, what="the good event after the one missing its file")
        letters = await read_dlq(bootstrap_servers, topics.audit, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert attempts == ["needs-a-file", "needs-a-file", "good"]
    assert letters[0][1]["planb-error"].decode().startswith("FileNotFoundError")


async def test_a_stop_request_ends_infrastructure_retries_and_leaves_the_record_uncommitted(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    """`_process` retried an infrastructure error for as long as it took, stop or no stop:
    shutting down during a database outage waited out the grace and was cancelled mid-batch.
    Now the loop returns, and the record, not committed, goes to the group's next consumer."""
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    group = f"{topic_prefix}-g"
    outage: list[str] = []
    handled: list[str] = []

    async def during_outage(event: CloudEvent, session: AsyncSession) -> None:
        outage.append(event.subject or "")
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def after_outage(event: CloudEvent, session: AsyncSession) -> None:
        handled.append(event.subject or "")

    first = audit_consumer(
        bootstrap_servers, group, topics.audit, during_outage, database=database, producer=producer
    )
    task = asyncio.create_task(first.run())
    try:
        await producer.publish(topics.audit, "k", audit("during"))

        async def retried() -> bool:
            return len(outage) >= 3  # more than max_attempts: an infrastructure error

        await eventually(retried, what="the infrastructure error retried")
        first.request_stop()
        await asyncio.wait_for(task, timeout=30)  # never returned before
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert first.stats.dead_lettered == 0

    second = audit_consumer(
        bootstrap_servers, group, topics.audit, after_outage, database=database, producer=producer
    )
    task = asyncio.create_task(second.run())
    try:

        async def taken_over() -> bool:
            return handled == ["during"]

        await eventually(taken_over, what="the uncommitted record handled by the next consumer")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
