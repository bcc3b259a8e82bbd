"""Poison records go to `<topic>.dlq`, with why and where from in their headers."""

import asyncio
import logging

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from tenacity import stop_when_event_set

from shared.contract.events import CloudEvent, utcnow
from shared.contract.topics import Topics
from shared.runtime.kafka import EventProducer
from shared.runtime.retry import Backoff, retrying

log = logging.getLogger("shared.runtime.consumer")


async def dead_letter(
    producer: EventProducer,
    record: ConsumerRecord[bytes, bytes],
    error: str,
    *,
    event: CloudEvent | None,
    group: str,
    backoff: Backoff,
    stopping: asyncio.Event,
) -> None:
    """Copy the record to `<topic>.dlq` with why it failed; retried until the broker acks
    or the consumer stops (the record then stays uncommitted, for the partition's next owner).
    A topic read by several consumer groups gets a letter from each that failed on it:
    `planb-consumer-group` says whose."""
    headers = [
        *[(k, v) for k, v in (record.headers or ())],
        ("planb-error", error[:2000].encode()),
        ("planb-source-topic", record.topic.encode()),
        ("planb-source-partition", str(record.partition).encode()),
        ("planb-source-offset", str(record.offset).encode()),
        ("planb-consumer-group", group.encode()),
        ("planb-failed-at", utcnow().isoformat().encode()),
    ]
    key = record.key.decode(errors="replace") if record.key else ""
    until_acked = retrying(
        backoff=backoff,
        retry_on=(KafkaError,),
        # tenacity types the event as threading.Event; it only calls is_set()
        stop=stop_when_event_set(stopping),  # type: ignore[arg-type]
        wakes_on=stopping,
        on_retry=lambda exc, _wait: log.warning("dead-lettering failed (%s); retrying", exc),
    )
    await until_acked(
        producer.send_raw, Topics.dlq(record.topic), key, record.value or b"", headers=headers
    )
    log.error(
        "dead-lettered record %s/%d@%d event_id=%s: %s",
        record.topic,
        record.partition,
        record.offset,
        event.id if event else None,
        error,
    )
