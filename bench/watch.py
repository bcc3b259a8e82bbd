"""Reads the system's topics as an outsider would, timestamping each record on arrival."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contract.events import (
    BadEvent,
    ChannelPaused,
    DeliveryPublished,
    IncidentRaised,
    PublishRequested,
    parse_event,
)
from shared.runtime.kafka_security import KafkaSecurity


@dataclass
class Watcher:
    """Arrival times (perf_counter) of the records the scenarios wait for."""

    consumer: AIOKafkaConsumer
    paused: dict[str, dict[str, float]] = field(default_factory=dict)
    """incident id → channel id → when its `channel paused` record arrived"""
    published: dict[str, dict[str, float]] = field(default_factory=dict)
    """incident id → channel id → when the status update's `published` report arrived"""
    requested: dict[str, dict[str, float]] = field(default_factory=dict)
    raised: dict[str, float] = field(default_factory=dict)
    records = 0

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        bootstrap_servers: str,
        topics: list[str],
        security: KafkaSecurity,
        *,
        fetch_max_wait_ms: int,
    ) -> AsyncIterator["Watcher"]:
        """Reading with the services' fetch wait: it is the last hop of every figure."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            **security.client_options(),
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_poll_records=5000,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        partitions = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                await consumer._client.force_metadata_update()
                found = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        watcher = cls(consumer)
        task = asyncio.create_task(watcher._run(), name="bench-watcher")
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self.records += 1
                    self._note(record.value, now)

    def _note(self, value: bytes | None, now: float) -> None:
        try:
            data = parse_event(value or b"").data
        except BadEvent:
            return
        if isinstance(data, ChannelPaused) and data.incident_id:
            self.paused.setdefault(data.incident_id, {}).setdefault(data.channel_id, now)
        elif isinstance(data, DeliveryPublished) and data.incident_id:
            self.published.setdefault(data.incident_id, {}).setdefault(data.channel_id, now)
        elif isinstance(data, PublishRequested) and data.incident:
            by_channel = self.requested.setdefault(data.incident.incident_id, {})
            by_channel.setdefault(data.channel_id, now)
        elif isinstance(data, IncidentRaised):
            self.raised.setdefault(data.incident_id, now)

    async def until(self, done: Callable[[], bool], *, within: float, what: str) -> None:
        """Wait (polling every millisecond) until `done()`; arrival times are the watcher's."""
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {within}s")
            await asyncio.sleep(0.001)
