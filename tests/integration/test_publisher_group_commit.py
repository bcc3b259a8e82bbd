"""The dispatchers' group commit on a real database: writes queued while another holds the
writer share one transaction, and a job that fails leaves the others' writes standing."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.group_commit import GroupCommit
from services.publisher.models import Base, ChannelPause
from shared.runtime.database import Database


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_all(Base.metadata)
    yield database
    await database.dispose()


def pause(channel_id: str, *, fail: bool = False) -> Callable[[AsyncSession], Awaitable[str]]:
    """A job writing the channel's pause row (and refusing after the write, if `fail`)."""

    async def job(session: AsyncSession) -> str:
        session.add(ChannelPause(channel_id=channel_id, paused=True, updated_at=datetime.now(UTC)))
        await session.flush()
        if fail:
            raise ValueError(f"{channel_id} refused")
        return channel_id

    return job


async def paused(database: Database) -> list[str]:
    async with database.sessions() as session:
        return list((await session.scalars(select(ChannelPause.channel_id))).all())


async def test_jobs_queued_together_share_one_commit(database: Database) -> None:
    group = GroupCommit(database)
    committed: list[int] = []
    event.listen(database.engine.sync_engine, "commit", lambda _conn: committed.append(1))
    # the first job leads; the others queue while its transaction begins
    jobs = [asyncio.create_task(group.run(c, pause(c))) for c in ("a", "c", "b")]
    assert await asyncio.gather(*jobs) == ["a", "c", "b"]
    assert sorted(await paused(database)) == ["a", "b", "c"]
    assert len(committed) == 1


async def test_a_failing_job_fails_alone(database: Database) -> None:
    group = GroupCommit(database)
    jobs = [group.run(c, pause(c, fail=c == "b")) for c in ("a", "b", "c")]
    a, b, c = await asyncio.gather(*jobs, return_exceptions=True)
    assert (a, c) == ("a", "c")
    assert isinstance(b, ValueError)
    assert sorted(await paused(database)) == ["a", "c"]


async def test_a_caller_gone_while_queued_holds_up_nobody(database: Database) -> None:
    group = GroupCommit(database)
    leader = asyncio.create_task(group.run("a", pause("a")))
    gone = asyncio.create_task(group.run("b", pause("b")))
    await asyncio.sleep(0)  # both queued: "a" leads, "b" waits its turn
    gone.cancel()
    assert await leader == "a"
    assert await group.run("c", pause("c")) == "c"  # a later job still finds a leader
    assert "c" in await paused(database)
