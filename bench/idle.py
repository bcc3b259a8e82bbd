"""What a consumer's fetch wait costs: the hop it adds and the CPU an idle consumer burns.

`python -m bench.idle BOOTSTRAP TOPIC WAIT_MS SECONDS` is the idle consumer: assigned to every
partition of an empty topic, it fetches for SECONDS and prints the CPU it used (its own
process, so the bench's event loop does not count). `measure` runs it once per wait and reads
the broker's CPU over the same window from /proc (the embedded broker only).
"""

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.system import Bench

WAITS_MS = (5, 10, 50, 500)


async def _idle(bootstrap: str, topic: str, wait_ms: int, seconds: float) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.getmany(timeout_ms=500)  # positions resolved, fetching under way
        print("ready", flush=True)
        cpu, wall = time.process_time(), time.perf_counter()
        end = wall + seconds
        while time.perf_counter() < end:
            await consumer.getmany(timeout_ms=200)
        used, elapsed = time.process_time() - cpu, time.perf_counter() - wall
        print(json.dumps({"cpu_s": used, "wall_s": elapsed}), flush=True)
    finally:
        await consumer.stop()


def ticks(pid: int) -> int | None:
    """utime + stime of `pid` in clock ticks (Linux), None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


async def idle_cpu(bench: Bench, topic: str, wait_ms: int, seconds: float) -> dict[str, Any]:
    """% of one core used by an idle consumer at `wait_ms`, and by the broker meanwhile."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.idle",
        bench.bootstrap_servers,
        topic,
        str(wait_ms),
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    await child.stdout.readline()  # "ready"
    before = ticks(bench.broker_pid) if bench.broker_pid else None
    started = time.perf_counter()
    figures = json.loads(await child.stdout.readline())
    after = ticks(bench.broker_pid) if bench.broker_pid else None
    elapsed = time.perf_counter() - started
    await child.wait()
    result: dict[str, Any] = {
        "consumer_core_pct": round(100 * figures["cpu_s"] / figures["wall_s"], 2),
        "seconds": round(figures["wall_s"], 1),
    }
    if before is not None and after is not None:
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        result["broker_core_pct"] = round(100 * (after - before) / ticks_per_s / elapsed, 2)
    return result


if __name__ == "__main__":
    bootstrap_arg, topic_arg, wait_arg, seconds_arg = sys.argv[1:5]
    asyncio.run(_idle(bootstrap_arg, topic_arg, int(wait_arg), float(seconds_arg)))
