"""Group commit: the dispatchers' writes that arrive together share one transaction.

Ten channels that finish their sends within a few milliseconds of each other would otherwise
queue ten transactions at SQLite's single writer, each waiting for the one before: the last
settles tens of milliseconds after its send. Here the first job to arrive leads: once it has
the writer, it runs every job queued by then in its transaction, and commits once; then the
oldest job still queued leads the next batch, so no caller is kept leading others' batches
while its own channel waits. A job
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
_DONE, _LEAD = "done", "lead"


@dataclass
class _Queued:
    key: str
    job: Job
    turn: "asyncio.Future[str]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """_DONE once the job has run (`result` or `error`), or _LEAD: run the next batch."""
    result: Any = None
    error: BaseException | None = None

    finished: bool = False

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.result, self.error, self.finished = result, error, True
        if not self.turn.done():
            self.turn.set_result(_DONE)

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


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
        if self._leading and await self._wait_turn(queued) == _DONE:
            result: T = queued.outcome()
            return result
        self._leading = True  # the first to arrive, or promoted: this job is still queued
        try:
            await self._commit_batch()
        except BaseException:  # cancelled mid-batch: nobody is left to run the others
            for waiting in [*self._batch, *self._queue]:
                waiting.finish(error=RuntimeError("group commit abandoned"))
            self._batch, self._queue = [], []
            raise
        finally:
            self._promote_next()
        result = queued.outcome()
        return result

    async def _wait_turn(self, queued: _Queued) -> str:
        try:
            return await queued.turn
        except BaseException:  # the caller is gone: its job is dropped, its lead passed on
            if queued in self._queue:
                self._queue.remove(queued)
            turn = queued.turn
            if turn.done() and not turn.cancelled() and turn.result() == _LEAD:
                self._promote_next()
            raise

    def _promote_next(self) -> None:
        """The oldest job still queued leads the next batch (none: nobody leads)."""
        while self._queue and self._queue[0].turn.done():
            self._queue.pop(0)  # its caller is gone
        self._leading = bool(self._queue)
        if self._queue:
            self._queue[0].turn.set_result(_LEAD)

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
                    queued.finish(error=exc)
                if not self._batch:
                    self._queue = []
            self._batch = []
            return
        for queued, result in zip(self._batch, results, strict=True):
            queued.finish(result)
        self._batch = []

    async def _one_by_one(self, batch: list[_Queued]) -> None:
        for queued in batch:
            try:
                async with self.database.transaction() as session:
                    result = await queued.job(session)
            except Exception as exc:
                queued.finish(error=exc)
            else:
                queued.finish(result)
