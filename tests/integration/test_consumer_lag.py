"""A consumer says how far behind it is, per partition, on /readyz: records on the broker not
yet handed to its loop, as of its last round (a fetch), and when that round was."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import AuditRecorded, CloudEvent
from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS
from shared.runtime.consumer import ConsumerConfig, EventConsumer
from shared.runtime.database import Database
from shared.runtime.kafka import EventProducer, ensure_topics
from tests.support import eventually

RECORDS = 500  # more than one round takes (200)


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


async def test_lag_per_partition_while_behind_and_zero_once_caught_up(
    bootstrap_servers: str, topic_prefix: str, producer: EventProducer, database: Database
) -> None:
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap_servers, topics.all(), partitions=1)
    at = datetime.now(UTC)
    await producer.send_many(
        [
            (
                topics.audit,
                "k",
                CloudEvent.wrap(
                    AuditRecorded(
                        actor="t", action="poke", entity_type="x", entity_id=str(n), at=at
                    ),
                    source="/tests",
                ).to_bytes(),
            )
            for n in range(RECORDS)
        ]
    )
    release = asyncio.Event()
    handled: list[str] = []

    async def on_audit(event: CloudEvent, session: AsyncSession) -> None:
        await release.wait()  # the first record holds the loop: its lag stands still
        handled.append(event.id)

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
    partition = f"{topics.audit}/0"
    try:

        async def behind() -> int | None:
            lag = consumer.stats.lag()["partitions"].get(partition)
            return lag if lag else None

        lag_while_held = await eventually(behind, what="a lag while the first batch is held")
        assert consumer.stats.last_round_at is not None
        release.set()

        async def caught_up() -> bool:
            return len(handled) == RECORDS and consumer.stats.lag()["partitions"] == {partition: 0}

        await eventually(caught_up, what="every record handled and the lag back to 0")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert 0 < lag_while_held < RECORDS  # the batch in hand is not counted
    assert consumer.stats.lag()["total"] == 0
