"""`python -m bench`: run the scenarios, print a table, write bench/results/latest.json.

The services run in this process on the embedded broker (or KAFKA_BOOTSTRAP_SERVERS); see
bench/system.py for what that means for the figures.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import draft, floor, ingest, pause, publish, router, storm
from bench.report import table
from bench.system import Bench, broker

Scenario = Callable[[Bench], Awaitable[dict[str, Any]]]

SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "floor": (floor.run, "bare aiokafka produce→consume, one and two hops"),
    "ingest": (ingest.run, "accept latency at concurrency 1 and 32, throughput vs producer"),
    "pause-10": (partial(pause.run, channel_count=10), "time to pause, 10 channels"),
    "pause-1000": (partial(pause.run, channel_count=1000), "time to pause, 1,000 channels"),
    "pause-posts": (
        partial(pause.run, channel_count=10, posts=10_000),
        "time to pause, 10 channels holding 10,000 scheduled posts",
    ),
    "draft": (draft.run, "incident accepted → draft visible on the router API"),
    "publish": (publish.run, "approve → published on every channel (peers answer in 50 ms)"),
    "publish-timeout": (
        partial(publish.run, one_times_out=True),
        "approve → published with one channel timing out: the other channels",
    ),
    "storm": (storm.run, "Alertmanager storm: 10,000 notifications in 60 s (2,000 in 12 s quick)"),
    "router": (router.run, "10,000 incident events onto planb.incidents: time to pause"),
}
RESULTS = Path(__file__).parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:12} {about}" for name, (_, about) in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Plan B's benchmarks: every figure as median, p99 and max, beside the "
        "broker floor measured in the same run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios:\n{listing}\n\nKAFKA_BOOTSTRAP_SERVERS selects an external broker.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples and shorter runs (a smoke run)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SCENARIOS),
        metavar="SCENARIO",
        help="run only this scenario (repeatable; the floor always runs)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON results (default: %(default)s)"
    )
    return parser


def _load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


async def _run_all(bench: Bench, names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        scenario, about = SCENARIOS[name]
        bench.progress(f"{name}: {about}")
        load_before = _load()
        started = time.perf_counter()
        try:
            figures = await scenario(bench)
        except Exception as exc:
            logging.getLogger("bench").exception("scenario %s failed", name)
            figures = {"error": repr(exc)}
        figures["seconds"] = round(time.perf_counter() - started, 1)
        figures["load_average"] = {"before": load_before, "after": _load()}
        results[name] = figures
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = list(SCENARIOS) if not args.only else ["floor", *[n for n in args.only if n != "floor"]]
    with (
        broker() as (bootstrap, kind, security, broker_pid),
        tempfile.TemporaryDirectory(prefix="planb-bench-") as root,
    ):
        bench = Bench(bootstrap, kind, Path(root), args.quick, security, broker_pid)
        bench.progress(
            f"broker: {kind} at {bootstrap}; services' fetch wait {bench.fetch_max_wait_ms} ms; "
            f"load average {_load()}"
        )
        load_before = _load()
        scenarios = asyncio.run(_run_all(bench, names))
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "broker": kind,
        "fetch_max_wait_ms": bench.fetch_max_wait_ms,
        "process_model": "in-process: ingest, router, publisher apps over httpx.ASGITransport, "
        "one event loop; peers are uvicorn servers on loopback in threads",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": _load(),
        },
        "scenarios": scenarios,
    }
    failed = [name for name, figures in scenarios.items() if "error" in figures]
    print()
    print(table({"scenarios": {k: v for k, v in scenarios.items() if "error" not in v}}))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nload average {load_before} → {_load()}; results in {args.output}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
