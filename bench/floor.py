"""The floor: a bare aiokafka produce→consume round trip on the same broker, one and two hops.

Same client settings as the services (`acks=all`, `linger_ms=0`, consumers with the
services' `fetch_max_wait_ms`: `Bench.fetch_max_wait_ms`), a representative incident record,
one message in flight at a time. The two-hop path is what an incident takes to become a pause
record: ingest's produce, the router's consume, the router's produce (its outbox relay), the
outsider's consume. Then, for each fetch wait in `bench.idle.WAITS_MS`, the one hop and the
CPU an idle consumer (and the broker serving it) burns: what the setting costs either way.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.idle import WAITS_MS, idle_cpu
from bench.stats import jitter, summarise
from bench.system import Bench
from shared.contract.events import CloudEvent, IncidentRaised, Severity
from shared.runtime.kafka import ensure_topics


def sample_record() -> bytes:
    """An `incident raised` event as ingest sends it (~600 bytes)."""
    now = datetime.now(UTC)
    data = IncidentRaised(
        incident_id="inc_" + uuid.uuid4().hex[:20],
        title="Signalling fault at Central",
        severity=Severity.SEV1,
        started_at=now,
        raised_by="dev-operator",
        raised_at=now,
    )
    return CloudEvent.wrap(data, source="/planb/ingest").to_bytes()


def producer(bench: Bench) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bench.bootstrap_servers,
        acks="all",
        linger_ms=0,
        **bench.security.client_options(),
    )


async def assigned_consumer(
    bench: Bench, topic: str, wait_ms: int | None = None
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bench.bootstrap_servers,
        **bench.security.client_options(),
        fetch_max_wait_ms=wait_ms or bench.fetch_max_wait_ms,
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    await consumer._client.force_metadata_update()
    parts = consumer.partitions_for_topic(topic) or {0}
    consumer.assign([TopicPartition(topic, p) for p in parts])
    for tp in consumer.assignment():
        await consumer.position(tp)  # resolve "latest" now, not at the first fetch
    return consumer


async def run(bench: Bench) -> dict[str, Any]:
    prefix = f"floor{uuid.uuid4().hex[:8]}"
    first, second = f"{prefix}.a", f"{prefix}.b"
    await ensure_topics(bench.bootstrap_servers, [first, second], 8, security=bench.security)
    samples = bench.samples(500, 200)
    record = sample_record()
    out = producer(bench)
    relay = producer(bench)
    await out.start()
    await relay.start()
    middle = await assigned_consumer(bench, first)
    end = await assigned_consumer(bench, second)
    stop = asyncio.Event()

    async def forward() -> None:  # the second hop's "router": consume, then produce again
        while not stop.is_set():
            for tp_records in (await middle.getmany(timeout_ms=200)).values():
                for r in tp_records:
                    await relay.send_and_wait(second, r.value, key=r.key)

    try:
        ack: list[float] = []
        one: list[float] = []
        for i in range(samples + 20):
            key = f"k{i}".encode()
            await jitter()
            started = time.perf_counter()
            await out.send_and_wait(first, record, key=key)
            acked = time.perf_counter()
            await _receive(middle, key)
            if i >= 20:  # warm-up
                ack.append(acked - started)
                one.append(time.perf_counter() - started)
        bench.progress(f"floor: one hop {summarise(one).median_ms:.2f} ms median")
        forwarder = asyncio.create_task(forward())
        two: list[float] = []
        for i in range(samples + 20):
            key = f"t{i}".encode()
            await jitter()
            started = time.perf_counter()
            await out.send_and_wait(first, record, key=key)
            await _receive(end, key)
            if i >= 20:
                two.append(time.perf_counter() - started)
        stop.set()
        await forwarder
        bench.progress(f"floor: two hops {summarise(two).median_ms:.2f} ms median")
    finally:
        for client in (middle, end):
            await client.stop()
        await out.stop()
        await relay.stop()
    return {
        "fetch_max_wait_ms": bench.fetch_max_wait_ms,
        "produce_ack": summarise(ack).as_dict(),
        "one_hop": summarise(one).as_dict(),
        "two_hops": summarise(two).as_dict(),
        "record_bytes": len(record),
        "fetch_waits": await _fetch_waits(bench, first, record),
    }


async def _fetch_waits(bench: Bench, topic: str, record: bytes) -> dict[str, Any]:
    """Per fetch wait: the one hop (fewer samples) and the idle CPU (a consumer of an empty
    topic, in its own process)."""
    samples = bench.samples(200, 40)
    idle_seconds = 60.0 if not bench.quick else 8.0
    empty = f"{topic}.idle"
    await ensure_topics(bench.bootstrap_servers, [empty], 8, security=bench.security)
    out = producer(bench)
    await out.start()
    figures: dict[str, Any] = {}
    try:
        for wait_ms in WAITS_MS:
            consumer = await assigned_consumer(bench, topic, wait_ms)
            hops: list[float] = []
            try:
                for i in range(samples):
                    key = f"w{wait_ms}-{i}".encode()
                    await jitter()
                    started = time.perf_counter()
                    await out.send_and_wait(topic, record, key=key)
                    await _receive(consumer, key)
                    hops.append(time.perf_counter() - started)
            finally:
                await consumer.stop()
            idle = await idle_cpu(bench, empty, wait_ms, idle_seconds)
            figures[str(wait_ms)] = {"one_hop": summarise(hops).as_dict(), "idle": idle}
            bench.progress(
                f"floor: fetch wait {wait_ms} ms: hop p50 {summarise(hops).median_ms:.1f} ms, "
                f"idle consumer {idle['consumer_core_pct']:.1f}% of a core, "
                f"broker {idle.get('broker_core_pct', float('nan')):.1f}%"
            )
    finally:
        await out.stop()
    return figures


async def _receive(consumer: AIOKafkaConsumer, key: bytes, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            if any(r.key == key for r in records):
                return
    raise TimeoutError(f"record {key!r} not received in {within}s")
