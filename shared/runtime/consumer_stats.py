"""What a consumer loop says about itself on /metrics and /readyz: counters, its partitions,
how far behind it is on each, and when its last round finished."""

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contract.events import utcnow


@dataclass
class PartitionProgress:
    highwater: int | None = None
    """The offset the broker will give its next record, as of the last fetch."""
    position: int | None = None
    """The offset of the next record the loop will be handed."""

    @property
    def lag(self) -> int | None:
        """Records on the broker not yet handed to the loop (a batch in hand is not counted)."""
        if self.highwater is None or self.position is None:
            return None
        return max(0, self.highwater - self.position)


@dataclass
class ConsumerStats:
    """Counters the service exposes on /metrics and /readyz."""

    handled: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    """Dead-lettered records per topic they came from (`dead_lettered` in all)."""
    ignored: int = 0
    last_error: str | None = None
    assigned: set[TopicPartition] = field(default_factory=set)
    partitions: dict[TopicPartition, PartitionProgress] = field(default_factory=dict)
    last_round_at: datetime | None = None
    """When a fetch last returned: the batch before it was handled and committed."""

    def dead_lettered_from(self, topic: str) -> None:
        self.dead_lettered += 1
        self.dead_letters[topic] = self.dead_letters.get(topic, 0) + 1

    async def round_done(self, consumer: AIOKafkaConsumer) -> None:
        """After each fetch: the assignment, and each partition's progress."""
        self.last_round_at = utcnow()
        self.assigned = set(consumer.assignment())
        progress: dict[TopicPartition, PartitionProgress] = {}
        for tp in self.assigned:
            progress[tp] = PartitionProgress(highwater=consumer.highwater(tp))
            # A partition just assigned has no position until the fetcher resets it: its lag
            # is unknown for a round rather than the loop waiting on the broker (no wait at
            # all: `position` returns without suspending when it has one).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0):
                    progress[tp].position = await consumer.position(tp)
        self.partitions = progress

    def lag(self) -> dict[str, Any]:
        """Per partition ("topic/partition") and in all, for /readyz."""
        per_partition = {
            f"{tp.topic}/{tp.partition}": self.partitions[tp].lag
            for tp in sorted(self.partitions, key=lambda tp: (tp.topic, tp.partition))
        }
        known = [lag for lag in per_partition.values() if lag is not None]
        return {"total": sum(known) if known else None, "partitions": per_partition}
