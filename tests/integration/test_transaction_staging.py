"""What a transaction stages (rows to insert, callbacks for after the commit) is handled when
the transaction ends, on a real database, whatever savepoints it opened: SQLAlchemy ends a
savepoint with the session's commit and rollback events too."""

from collections.abc import AsyncIterator
from contextlib import suppress

import pytest
from sqlalchemy import select

from shared.contract.events import utcnow
from shared.runtime.database import Database, OutboxEntry, after_commit, stage_insert


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.create_all()
    yield db
    await db.dispose()


def row(key: str) -> dict[str, object]:
    return {"topic": "t", "key": key, "value": b"", "created_at": utcnow()}


async def keys(database: Database) -> list[str]:
    async with database.sessions() as session:
        return list(await session.scalars(select(OutboxEntry.key).order_by(OutboxEntry.id)))


async def test_a_released_savepoint_neither_writes_nor_calls_back_early(
    database: Database,
) -> None:
    calls: list[str] = []
    async with database.transaction() as session:
        stage_insert(session, OutboxEntry, [row("before")])
        after_commit(session, lambda: calls.append("before"))
        async with session.begin_nested():
            stage_insert(session, OutboxEntry, [row("inside")])
        assert calls == []
        stage_insert(session, OutboxEntry, [row("after")])
        after_commit(session, lambda: calls.append("after"))
        assert await keys(database) == []
    assert calls == ["before", "after"]
    assert await keys(database) == ["before", "inside", "after"]


async def test_a_savepoint_rolled_back_takes_back_only_what_was_staged_inside_it(
    database: Database,
) -> None:
    calls: list[str] = []
    async with database.transaction() as session:
        stage_insert(session, OutboxEntry, [row("before")])
        after_commit(session, lambda: calls.append("before"))
        with suppress(LookupError):
            async with session.begin_nested():
                stage_insert(session, OutboxEntry, [row("inside")])
                after_commit(session, lambda: calls.append("inside"))
                raise LookupError("refused")
        stage_insert(session, OutboxEntry, [row("after")])
    assert calls == ["before"]
    assert await keys(database) == ["before", "after"]


async def test_a_transaction_rolled_back_writes_nothing_and_calls_nothing(
    database: Database,
) -> None:
    calls: list[str] = []
    with suppress(LookupError):
        async with database.transaction() as session:
            stage_insert(session, OutboxEntry, [row("lost")])
            after_commit(session, lambda: calls.append("lost"))
            raise LookupError("rolled back")
    async with database.transaction() as session:
        stage_insert(session, OutboxEntry, [row("next")])
    assert calls == []
    assert await keys(database) == ["next"]
