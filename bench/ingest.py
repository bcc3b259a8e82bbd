"""Ingest: accept latency (POST /v1/incidents → 202) at concurrency 1 and 32, and sustained
throughput against a bare aiokafka producer loop on the same broker, same concurrency.

Ingest runs alone (nothing consumes `planb.incidents`), with its rate limit lifted.
"""

import asyncio
import time
from typing import Any

from bench.floor import producer, sample_record
from bench.stats import summarise
from bench.system import Bench, System, channels, running_system
from shared.runtime.kafka import ensure_topics

CONCURRENCY = 32


async def run(bench: Bench) -> dict[str, Any]:
    duration = 3.0 if bench.quick else 10.0
    async with running_system(
        bench, "ingest", channels(10, "http://127.0.0.1:9/none"), services=("ingest",), watch=()
    ) as system:
        for _ in range(20):  # warm-up
            await system.raise_incident("sev4")
        serial = [await _timed(system) for _ in range(bench.samples(300, 200))]
        bench.progress(f"ingest: concurrency 1 {summarise(serial).median_ms:.2f} ms median")
        per_worker = bench.samples(20, 8)
        concurrent = await _concurrently(system, per_worker)
        bench.progress(f"ingest: concurrency 32 {summarise(concurrent).median_ms:.2f} ms median")
        accepted = await _sustained(system, duration)
        bench.progress(
            f"ingest: {accepted / duration:.0f} 202s per second over {duration:.0f} s "
            f"(all requests: {dict(system.answers)})"
        )
        bare = await _bare_producer(
            bench, prefix=system.topics.prefix, duration=duration, concurrency=CONCURRENCY
        )
        bench.progress(f"ingest: bare producer {bare / duration:.0f} acks per second")
        single = await _bare_producer(
            bench, prefix=system.topics.prefix, duration=duration, concurrency=1
        )
    rate, bare_rate = accepted / duration, bare / duration
    return {
        "accept_c1": summarise(serial).as_dict(),
        "accept_c32": summarise(concurrent).as_dict(),
        "throughput_per_s": round(rate, 1),
        "bare_producer_per_s": round(bare_rate, 1),
        "throughput_ratio": round(rate / bare_rate, 3),
        "bare_producer_concurrency_1_per_s": round(single / duration, 1),
        "answers": dict(system.answers),
        "duration_s": duration,
        "concurrency": CONCURRENCY,
    }


async def _timed(system: System) -> float:
    started = time.perf_counter()
    _, accepted = await system.raise_incident("sev4")
    return accepted - started


async def _concurrently(system: System, per_worker: int) -> list[float]:
    async def worker() -> list[float]:
        return [await _timed(system) for _ in range(per_worker)]

    results = await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return [s for r in results for s in r]


async def _sustained(system: System, duration: float) -> int:
    deadline = time.perf_counter() + duration
    counts = [0] * CONCURRENCY

    async def worker(i: int) -> None:
        while time.perf_counter() < deadline:
            await system.raise_incident("sev4")
            counts[i] += 1

    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    return sum(counts)


async def _bare_producer(bench: Bench, *, prefix: str, duration: float, concurrency: int) -> int:
    """`send_and_wait` of the same record size from `concurrency` tasks (ingest's way)."""
    topic = f"{prefix}.bare"
    await ensure_topics(bench.bootstrap_servers, [topic], 8, security=bench.security)
    record = sample_record()
    client = producer(bench)
    await client.start()
    counts = [0] * concurrency
    try:
        deadline = time.perf_counter() + duration

        async def worker(i: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                await client.send_and_wait(topic, record, key=f"inc{i}-{n}".encode())
                n += 1
            counts[i] = n

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        await client.stop()
    return sum(counts)
