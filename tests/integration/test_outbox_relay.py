"""The outbox relay and a sender of its own rows (ingest's request path) on a real broker and
database: a row the sender has sent, deleted and released while the relay was reading the
outbox is not sent again, and a row the sender gives back unsent still goes.

Found by the Alertmanager storm test on PostgreSQL (61 records for 60 events): the relay's
read started before the request's batch delete committed, so it returned the deleted rows,
and the request released them before the read came back, so nothing held them any more."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import CloudEvent, IncidentResolved, parse_event, utcnow
from shared.runtime.database import Database, OutboxEntry
from shared.runtime.kafka import EventProducer, ensure_topics
from shared.runtime.outbox import OutboxRelay
from tests.support import read_records


class PausingDatabase(Database):
    """A real database whose next session, once armed, waits at its end until let go: the
    relay's read has then fetched its rows but not yet looked at what is held."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.armed = False
        self.paused = asyncio.Event()
        self.go_on = asyncio.Event()

    @asynccontextmanager
    async def sessions(self) -> AsyncIterator[AsyncSession]:
        pause, self.armed = self.armed, False
        async with super().sessions() as session:
            yield session
        if pause:
            self.paused.set()
            await self.go_on.wait()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[PausingDatabase]:
    database = PausingDatabase(database_url)
    await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture
async def producer(bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    producer = EventProducer(bootstrap_servers, client_id="relay-test")
    await producer.start()
    yield producer
    await producer.stop()


async def commit_held_row(
    database: Database, relay: OutboxRelay, topic: str, key: str
) -> tuple[int, CloudEvent]:
    """As ingest's request does: the row is held by its sender before it commits."""
    data = IncidentResolved(incident_id=key, resolved_by="test", resolved_at=utcnow())
    event = CloudEvent.wrap(data, source="/test", subject=key)
    async with database.transaction() as session:
        row = OutboxEntry(topic=topic, key=key, value=event.to_bytes(), created_at=utcnow())
        session.add(row)
        await session.flush()
        relay.hold(row.id, key)
    return row.id, event


async def test_a_row_sent_and_released_while_the_relay_reads_is_not_sent_again(
    database: PausingDatabase, producer: EventProducer, bootstrap_servers: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.incidents"
    await ensure_topics(bootstrap_servers, [topic], partitions=1)
    relay = OutboxRelay(database, producer)
    row_id, event = await commit_held_row(database, relay, topic, "inc_a")

    database.armed = True
    draining = asyncio.create_task(relay.drain_once())
    await database.paused.wait()  # the relay has read the row, still held
    await producer.send_raw(topic, "inc_a", event.to_bytes())
    async with database.transaction() as session:
        await session.execute(delete(OutboxEntry).where(OutboxEntry.id == row_id))
    relay.release(row_id, sent=True)
    database.go_on.set()

    assert await draining == 0
    records = await read_records(bootstrap_servers, topic, 1)
    assert [parse_event(r.value).id for r in records] == [event.id]


async def test_a_row_released_unsent_while_the_relay_reads_is_sent_by_that_drain(
    database: PausingDatabase, producer: EventProducer, bootstrap_servers: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.incidents"
    await ensure_topics(bootstrap_servers, [topic], partitions=1)
    relay = OutboxRelay(database, producer)
    row_id, event = await commit_held_row(database, relay, topic, "inc_b")

    database.armed = True
    draining = asyncio.create_task(relay.drain_once())
    await database.paused.wait()
    relay.release(row_id)  # the sender's send failed: the relay's to send
    database.go_on.set()

    assert await draining == 1
    records = await read_records(bootstrap_servers, topic, 1)
    assert [parse_event(r.value).id for r in records] == [event.id]
    assert await relay.depth() == 0
