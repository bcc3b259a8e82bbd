"""Group commit: the dispatchers' writes that arrive together share one transaction.

Ten channels that finish their sends within a few milliseconds of each other would otherwise
queue ten transactions at SQLite's single writer, each waiting for the one before: the last
settles tens of milliseconds after its send. Here the first job to arrive leads: once it has
the writer, it runs every job queued by then in its transaction, and commits once. A job
that fails takes its batch down with it, so the batch is run again one job a transaction,
each job's outcome its own. A job must not wait for a lock another transaction holding
several could hold (the claims take their channel's lock only if it is free at once).
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.database import Database

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]


@dataclass
class _Queued:
    key: str
    job: Job
    done: "asyncio.Future[Any]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: list[_Queued] = []
        self._batch: list[_Queued] = []  # the jobs in the transaction under way
        self._leading = False

    async def run(self, key: str, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `job` in a transaction shared with the jobs queued alongside it; returns its
        result once that transaction has committed. `key` orders the batch (a channel id)."""
        queued = _Queued(key, job)
        self._queue.append(queued)
        if not self._leading:
            self._leading = True
            try:
                while self._queue:
                    await self._commit_batch()
            except BaseException:  # cancelled mid-batch: nobody is left to run the others
                for waiting in [*self._batch, *self._queue]:
                    if waiting is not queued and not waiting.done.done():
                        waiting.done.set_exception(RuntimeError("group commit abandoned"))
                self._batch, self._queue = [], []
                raise
            finally:
                self._leading = False
        result: T = await queued.done
        return result

    async def _commit_batch(self) -> None:
        results: list[Any] = []
        try:
            async with self.database.transaction() as session:
                await session.connection()  # begun: the jobs queued meanwhile join this one
                self._batch = batch = sorted(self._queue, key=lambda queued: queued.key)
                self._queue = []
                for queued in batch:
                    results.append(await queued.job(session))
        except Exception as exc:
            if len(self._batch) > 1:
                await self._one_by_one(self._batch)
            else:  # one job, or none taken: the transaction never began
                for queued in self._batch or self._queue:
                    queued.done.set_exception(exc)
                if not self._batch:
                    self._queue = []
            self._batch = []
            return
        for queued, result in zip(self._batch, results, strict=True):
            queued.done.set_result(result)
        self._batch = []

    async def _one_by_one(self, batch: list[_Queued]) -> None:
        for queued in batch:
            try:
                async with self.database.transaction() as session:
                    result = await queued.job(session)
            except Exception as exc:
                queued.done.set_exception(exc)
            else:
                queued.done.set_result(result)
