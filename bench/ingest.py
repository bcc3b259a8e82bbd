"""Ingest: accept latency (POST /v1/incidents → 202) at concurrency 1 and, sustained, at 32
clients, beside the HTTP floor (a bare FastAPI 202 served the same way: bench/httpfloor.py)
under the same load from the same client, and a bare aiokafka producer loop at the same
concurrency on the same broker.

Ingest runs alone (nothing consumes `planb.incidents`), with its rate limit lifted. The load
process's own CPU is reported with each sustained run: near 100% of a core, the client is
the limit and the rate says nothing of the server.
"""

import asyncio
import time
from typing import Any

from bench import httpfloor
from bench.floor import producer, sample_record
from bench.http import Pool, Post
from bench.start import running_system
from bench.stats import summarise
from bench.system import Bench, channels
from shared.runtime.kafka import ensure_topics

CONCURRENCY = 32
BODY = {"title": "Signalling fault at Central", "severity": "sev4"}


async def run(bench: Bench) -> dict[str, Any]:
    duration = 3.0 if bench.quick else 10.0
    async with running_system(
        bench, "ingest", channels(10, "http://127.0.0.1:9/none"), services=("ingest",), watch=()
    ) as system:
        async with system.load("ingest") as post:
            service = await _measure(bench, "ingest", post, system.auth("operator"), duration)
        bare = await _bare_producer(
            bench, prefix=system.topics.prefix, duration=duration, concurrency=CONCURRENCY
        )
        bench.progress(f"ingest: bare producer {bare / duration:.0f} acks per second")
        single = await _bare_producer(
            bench, prefix=system.topics.prefix, duration=duration, concurrency=1
        )
    async with httpfloor.serving() as (url, _pid):
        pool = Pool(url)
        try:
            floor = await _measure(bench, "HTTP floor", pool.post, {}, duration)
        finally:
            await pool.close()
    rate, bare_rate = service["per_s"], bare / duration
    return {
        "accept_c1": service["c1"],
        "accept_c32": service["c32"],
        "throughput_per_s": rate,
        "answers": service["answers"],
        "load_process_core_pct": service["load_core_pct"],
        "http_floor": {
            "accept_c1": floor["c1"],
            "accept_c32": floor["c32"],
            "per_s": floor["per_s"],
            "load_process_core_pct": floor["load_core_pct"],
        },
        "ratio_to_http_floor": round(rate / floor["per_s"], 3) if floor["per_s"] else None,
        "bare_producer_per_s": round(bare_rate, 1),
        "throughput_ratio": round(rate / bare_rate, 3),
        "bare_producer_concurrency_1_per_s": round(single / duration, 1),
        "duration_s": duration,
        "concurrency": CONCURRENCY,
        "client": "bench/http.py keep-alive" if bench.processes else "httpx over ASGI",
    }


async def _measure(
    bench: Bench, label: str, post: Post, headers: dict[str, str], duration: float
) -> dict[str, Any]:
    """Concurrency 1 (one request at a time), then 32 clients for `duration` seconds."""
    for _ in range(20):  # warm-up
        await _one(post, headers)
    serial = [(await _one(post, headers))[0] for _ in range(bench.samples(300, 200))]
    bench.progress(f"{label}: concurrency 1 {summarise(serial).median_ms:.2f} ms median")
    latencies, answers, cpu, elapsed = await _sustained(post, headers, duration)
    rate = len(latencies) / elapsed
    load = 100 * cpu / elapsed
    bench.progress(
        f"{label}: {rate:.0f} 202s per second over {elapsed:.0f} s from {CONCURRENCY} clients, "
        f"p99 {summarise(latencies).p99_ms:.1f} ms; load process {load:.0f}% of a core"
        + (" (saturated: the client is the limit)" if load > 90 else "")
    )
    return {
        "c1": summarise(serial).as_dict(),
        "c32": summarise(latencies).as_dict(),
        "per_s": round(rate, 1),
        "answers": answers,
        "load_core_pct": round(load, 1),
    }


async def _one(post: Post, headers: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    status, body = await post("/v1/incidents", BODY, headers)
    if status != 202:
        raise RuntimeError(f"answered {status}: {body[:200]!r}")
    return time.perf_counter() - started, body


async def _sustained(
    post: Post, headers: dict[str, str], duration: float
) -> tuple[list[float], dict[str, int], float, float]:
    """32 closed-loop clients for `duration`: latencies of the 202s, answers by status
    (`queued`: Kafka was slower than ACCEPT_WAIT_MS), this process's CPU seconds, wall."""
    latencies: list[float] = []
    answers = {"accepted": 0, "queued": 0}
    cpu, started = time.process_time(), time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        while time.perf_counter() < deadline:
            seconds, body = await _one(post, headers)
            latencies.append(seconds)
            answers["queued" if b'"queued"' in body else "accepted"] += 1

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return latencies, answers, time.process_time() - cpu, time.perf_counter() - started


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
