"""`Idempotency-Key`: the first request with a key is done, its twins and replays get its answer.

The key is claimed in the database, in the request's transaction (a unique row per caller
and key), so replicas agree. Twins that arrive together in one process are told the first
one's final answer (`accepted` once Kafka has it), not the `queued` the row holds until then.
"""

import asyncio
import time
from collections import OrderedDict
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import IdempotencyRecord
from services.ingest.schemas import Accepted
from shared.contract.errors import Rejected
from shared.contract.events import utcnow

PURGE_EVERY_SECONDS = 60.0
"""Expired keys are purged at most this often, not by every request (the TTL is hours); an
expired key met before then is deleted on the spot."""

RECENT_ANSWERS = 1000
Claim = tuple[str, str]
"""(caller, key)"""


class Idempotency:
    def __init__(self, *, ttl: timedelta) -> None:
        self.ttl = ttl
        self._purged_at = -PURGE_EVERY_SECONDS
        self._in_flight: dict[Claim, asyncio.Future[Accepted]] = {}
        self._recent: OrderedDict[Claim, Accepted] = OrderedDict()
        """Final answers of the last keys answered here: a twin committed with its first
        request may resume only after that one is done."""

    async def claim(
        self, session: AsyncSession, *, caller: str, key: str, digest: str
    ) -> IdempotencyRecord | Accepted:
        """A new record for this key (to hold the answer), or the first answer to replay."""
        if time.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = time.monotonic()
            await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - self.ttl)
            )
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == caller, IdempotencyRecord.key == key
            )
        )
        if record is not None and record.created_at < utcnow() - self.ttl:
            await session.delete(record)  # expired, not yet purged
            await session.flush()
            record = None
        if record is None:
            record = IdempotencyRecord(
                principal=caller, key=key, request_digest=digest, response={}, created_at=utcnow()
            )
            session.add(record)
            await session.flush()  # a twin on another replica fails here: no second event
            return record
        if record.request_digest != digest:
            raise Rejected(
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        return Accepted.model_validate(record.response)

    def begin(self, claim: Claim) -> None:
        """The first request with this key is under way here; its twins wait for its answer."""
        self._in_flight[claim] = asyncio.get_running_loop().create_future()

    def end(self, claim: Claim, answer: Accepted | None) -> None:
        """The first request answered (or failed: `None`, its twins keep what they read)."""
        future = self._in_flight.pop(claim, None)
        if answer is not None:
            self._recent[claim] = answer
            if len(self._recent) > RECENT_ANSWERS:
                self._recent.popitem(last=False)
        if future is None or future.done():
            return
        if answer is None:
            future.cancel()
        else:
            future.set_result(answer)

    async def replay(self, claim: Claim, stored: Accepted) -> Accepted:
        """The first request's answer: its final one if it is still under way here."""
        future = self._in_flight.get(claim)
        if future is None:
            recent = self._recent.get(claim)
            if recent is not None and recent.event_id == stored.event_id:
                return recent  # that request's final answer, not an older use of the key
            return stored
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return stored
            raise
