"""Group commit: one writer runs the work many concurrent requests hand it in one transaction.

A transaction per request made ingest as slow as its database's commits (SQLite takes one
writer at a time; its commit was ~7 ms of a ~15 ms request). Here requests queue their work;
the writer takes all that waits (up to `max_jobs`), runs it in one transaction, commits once,
and only then answers each request: an answer still means its rows are durable. While one
batch commits, the next one gathers, so the batch grows with the load and no one waits on a
timer.

The writer first runs a batch as it comes, each job's rows flushed together at the end (on
SQLite every statement is a hop to its thread and back, the main cost of a request). If any
job fails, or the commit does, that transaction is rolled back and the batch runs again with
each job in its own SAVEPOINT, so one job's `NotFound`, `Conflict` or `IntegrityError` undoes
only its own writes. A job that lost a race for a row (`IntegrityError`) or a lock
(PostgreSQL's deadlock detector) runs again in the next batch, after this one's locks are
gone: it may then find the row the other writer made (an idempotency key's first answer).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.errors import Conflict
from shared.runtime.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 3
_RACE_TITLE = "Conflict"
_RACE_DETAIL = "The request conflicted with a concurrent one; retry it."


@dataclass
class _Job(Generic[T]):
    work: Callable[[AsyncSession], Awaitable[T]]
    flushed: Callable[[], None]
    """Called once the job's rows are written (they have ids), before the commit: what the
    job then does with them (ingest holds them from the relay) is in place before any
    reader can see them."""
    undo: Callable[[], None]
    """Called when the job's writes are rolled back, or committed for a request that gave up
    waiting; may be called more than once."""
    future: asyncio.Future[T]
    attempts: int = 0
    result: list[T] = field(default_factory=list)


class GroupCommit:
    """Runs jobs for many requests in shared transactions; `run` answers once committed."""

    def __init__(
        self,
        database: Database,
        *,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[Any]],
        max_jobs: int = 200,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.database = database
        self.max_jobs = max_jobs
        self.on_batch = on_batch
        self._spawn = spawn
        self._waiting: deque[_Job[Any]] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[Any] | None = None

    @property
    def waiting(self) -> int:
        """Jobs queued for the next batch (not the one under way)."""
        return len(self._waiting)

    async def run(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        flushed: Callable[[], None] = lambda: None,
        undo: Callable[[], None] = lambda: None,
    ) -> T:
        """`work`'s result once its transaction committed; its exception if it failed (its
        writes undone, the batch's others kept), or the commit's if the batch failed."""
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write(), "ingest-group-commit")
        job: _Job[T] = _Job(work, flushed, undo, asyncio.get_running_loop().create_future())
        self._waiting.append(job)
        self._wakeup.set()
        return await job.future

    async def _write(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._waiting:
                    count = min(self.max_jobs, len(self._waiting))
                    jobs = [self._waiting.popleft() for _ in range(count)]
                    again = await self._batch([job for job in jobs if not job.future.done()])
                    self._waiting.extendleft(reversed(again))
        finally:  # shutting down: nobody is left to run what waits
            for job in self._waiting:
                job.future.cancel()

    async def _batch(self, jobs: list[_Job[Any]]) -> list[_Job[Any]]:
        """Run `jobs` in one transaction; returns those to run again in the next one."""
        if not jobs:
            return []
        try:
            async with self.database.transaction() as session:
                for job in jobs:
                    job.result[:] = [await job.work(session)]
                await session.flush()
                for job in jobs:
                    job.flushed()
        except Exception as exc:
            log.debug("batch of %d failed (%r); again, a SAVEPOINT each", len(jobs), exc)
            for job in jobs:
                job.undo()
            return await self._careful(jobs)
        self._settle(jobs)
        return []

    async def _careful(self, jobs: list[_Job[Any]]) -> list[_Job[Any]]:
        done: list[_Job[Any]] = []
        again: list[_Job[Any]] = []
        try:
            async with self.database.transaction() as session:
                for job in jobs:
                    if await self._attempt(session, job):
                        job.flushed()
                        done.append(job)
                    elif not job.future.done():
                        again.append(job)
        except Exception as exc:
            log.warning("group commit of %d jobs failed: %r", len(jobs), exc)
            for job in jobs:
                _fail(job, exc)
            return []
        self._settle(done)
        return again

    def _settle(self, jobs: list[_Job[Any]]) -> None:
        """Committed: answer each request (if it still waits)."""
        if self.on_batch is not None:
            self.on_batch(len(jobs))
        for job in jobs:
            if job.future.done():
                job.undo()
            else:
                job.future.set_result(job.result[0])

    async def _attempt(self, session: AsyncSession, job: _Job[Any]) -> bool:
        """Run one job in a SAVEPOINT: True if it holds, False if rolled back (the future
        then carries its error, or the job goes again)."""
        try:
            async with session.begin_nested():
                job.result[:] = [await job.work(session)]
            return True
        except DBAPIError as exc:
            session.info.clear()  # per-batch notes may name the rolled-back job's rows
            job.undo()
            job.attempts += 1
            if job.attempts >= ATTEMPTS:
                log.warning("job lost %d races in a row (%r); answering 409", ATTEMPTS, exc)
                _fail(job, Conflict(_RACE_TITLE, _RACE_DETAIL))
            return False
        except Exception as exc:
            session.info.clear()
            _fail(job, exc)
            return False


def _fail(job: _Job[Any], exc: BaseException) -> None:
    """Undo the job's side effects (idempotent) and hand its request the error."""
    job.undo()
    if not job.future.done():
        job.future.set_exception(exc)
