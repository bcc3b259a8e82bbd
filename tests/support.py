"""Helpers for tests: wait for asynchronous outcomes with a retrying poll, never a sleep, and
read a topic from its start."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.runtime.kafka_security import PLAINTEXT, KafkaSecurity

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {last!r}")


async def read_records(
    bootstrap_servers: str,
    topic: str,
    count: int = 0,
    *,
    within: float = 30.0,
    quiet_ms: int = 300,
    security: KafkaSecurity = PLAINTEXT,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic` from its start, in partition order: once at least `count` have
    arrived, and then whatever comes until none has for `quiet_ms` (so a test can assert
    "exactly")."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        **security.client_options(),
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(records)
            return len(found) >= count

        await eventually(enough, within=within, what=f"{count} records on {topic}")
        while batch := await consumer.getmany(timeout_ms=quiet_ms):
            for records in batch.values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found
