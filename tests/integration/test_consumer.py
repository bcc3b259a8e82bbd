"""The shared consumer loop on a real broker and database: dead letters and idempotency."""

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import AuditRecorded, CloudEvent
from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS
from shared.runtime.consumer import (
    ConsumerConfig,
    EventConsumer,
    Handler,
    Handlers,
    PermanentError,
)
from shared.runtime.database import Database, InboxEntry, OutboxEntry
from shared.runtime.kafka import EventProducer, ensure_topics
from shared.runtime.outbox import add_to_outbox
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


def audit_consumer(
    bootstrap_servers: str,
    group: str,
    topic: str,
    *,
    handlers: Mapping[str, Handler],
    database: Database,
    producer: EventProducer,
    **config: Any,
) -> EventConsumer:
    """A consumer of `topic` in `group` with the tests' short session and fetch wait."""
    return EventConsumer(
        ConsumerConfig(
            bootstrap_servers,
            group,
            [topic],
            session_timeout_ms=6000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **config,
        ),
        handlers=handlers,
        database=database,
        dlq_producer=producer,
    )


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

    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        producer=producer,
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

    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        producer=producer,
        max_attempts=3,
        retry_base_seconds=0.01,
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


async def test_a_fetch_is_handled_in_one_transaction_and_a_failing_record_on_its_own(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    """Records waiting before the consumer starts come in one fetch: handled together, until
    "bad" fails; then one by one, "bad"'s failed try counting as its first of three."""
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    attempts: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        attempts.append(event.subject or "")
        if event.subject == "bad":
            raise ValueError("cannot handle this one")

    for subject in ("a", "bad", "b"):
        await producer.publish(topics.audit, "k", audit(subject))
    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        producer=producer,
        max_attempts=3,
        retry_base_seconds=0.01,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def b_handled() -> bool:
            return consumer.stats.handled == 2

        await eventually(b_handled, what="a and b handled")
        letters = await read_dlq(bootstrap_servers, topics.audit, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert attempts == ["a", "bad", "a", "bad", "bad", "b"]
    assert [json.loads(v)["subject"] for v, _ in letters] == ["bad"]
    async with database.sessions() as session:
        handled = (await session.scalars(select(InboxEntry.topic))).all()
    assert handled == [topics.audit, topics.audit]


async def test_reports_staged_around_savepoints_by_a_fetch_handled_together_all_commit(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    """As the publisher's status page does: each record opens a savepoint (its send), then
    stages a report. SQLAlchemy ends a savepoint with the session's commit and rollback
    events, at which the outbox once wrote (or dropped) what was staged and stopped
    listening: with a fetch in one transaction, the reports of all but one record were lost
    (the console's browser test: the status page's report never arrived)."""
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    wakes: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        try:
            async with session.begin_nested():
                if event.subject == "refused":
                    raise LookupError("the channel refused it")
        except LookupError:
            pass
        add_to_outbox(
            session,
            topic=topics.deliveries,
            key=event.subject or "",
            event=audit(f"report {event.subject}"),
            wake=lambda: wakes.append("wake"),
        )

    for subject in ("a", "refused", "b", "c"):
        await producer.publish(topics.audit, "k", audit(subject))
    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def all_handled() -> bool:
            return consumer.stats.handled == 4

        await eventually(all_handled, what="four records handled")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async with database.sessions() as session:
        keys = (await session.scalars(select(OutboxEntry.key).order_by(OutboxEntry.id))).all()
    assert keys == ["a", "refused", "b", "c"]
    assert wakes  # after the commit, not at a savepoint's release


@pytest.mark.parametrize("fails", [False, True])
async def test_a_together_handler_takes_a_fetch_at_once_and_one_by_one_when_it_fails(
    bootstrap_servers: str,
    topic_prefix: str,
    producer: EventProducer,
    database: Database,
    fails: bool,
) -> None:
    """Redeliveries (in the inbox, or twice in the fetch) and a poison record are kept from
    the `together` handler; should it fail, each record is handled on its own."""
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    together_calls: list[list[str]] = []
    one_by_one: list[str] = []

    async def on_fetch(events: list[CloudEvent], session: AsyncSession) -> None:
        together_calls.append([e.subject or "" for e in events])
        if fails:
            raise ValueError("the set-based path failed")

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        one_by_one.append(event.subject or "")

    old, b = audit("old"), audit("b")
    async with database.transaction() as session:
        session.add(InboxEntry(event_id=old.id, topic=topics.audit, handled_at=NOW))
    await producer.publish(topics.audit, "k", audit("a"))
    await producer.send_raw(topics.audit, "k", b"{not json")
    for event in (old, b, b, audit("c")):
        await producer.publish(topics.audit, "k", event)
    consumer = audit_consumer(
        bootstrap_servers,
        f"{topic_prefix}-g",
        topics.audit,
        handlers=Handlers({AuditRecorded.event_type: on_audit}, together=on_fetch),
        database=database,
        producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def all_handled() -> bool:
            return consumer.stats.handled == 3

        await eventually(all_handled, what="a, b and c handled")
        letters = await read_dlq(bootstrap_servers, topics.audit, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert together_calls == [["a", "b", "c"]]
    assert one_by_one == (["a", "b", "c"] if fails else [])
    assert consumer.stats.duplicates == 2
    assert letters[0][0] == b"{not json"
    async with database.sessions() as session:
        handled = (await session.scalars(select(InboxEntry.event_id))).all()
    assert len(handled) == 4


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
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        producer=producer,
        max_attempts=2,
        retry_base_seconds=0.01,
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
        bootstrap_servers,
        group,
        topics.audit,
        handlers={AuditRecorded.event_type: during_outage},
        database=database,
        producer=producer,
        max_attempts=2,
        retry_base_seconds=0.01,
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
        bootstrap_servers,
        group,
        topics.audit,
        handlers={AuditRecorded.event_type: after_outage},
        database=database,
        producer=producer,
        max_attempts=2,
        retry_base_seconds=0.01,
    )
    task = asyncio.create_task(second.run())
    try:

        async def taken_over() -> bool:
            return handled == ["during"]

        await eventually(taken_over, what="the uncommitted record handled by the next consumer")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
