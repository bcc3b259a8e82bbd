"""`python -m bench`: run the scenarios, print a table, write bench/results/latest.json and a
chart of every latency beside the floors (latest.svg).

The services run as separate processes, as `planb run` starts them (or, `--in-process`, in
this one), on the embedded broker or KAFKA_BOOTSTRAP_SERVERS: see bench/start.py.
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

from sqlalchemy.engine import make_url

from bench import draft, floor, ingest, pause, publish, router, storm, subscribers
from bench.chart import svg
from bench.idle import ticks
from bench.report import cpu_table, table
from bench.system import Bench, broker

Scenario = Callable[[Bench], Awaitable[dict[str, Any]]]

SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "floor": (floor.run, "bare aiokafka produce→consume, one and two hops"),
    "ingest": (
        ingest.run,
        "accept latency and rate at 1 and 32 clients, beside the HTTP floor and a bare producer",
    ),
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
    "storm": (
        storm.run,
        "Alertmanager storm: 10,000 notifications in 60 s over 1,000 groups, open loop "
        "(a fifth with --quick)",
    ),
    "router": (router.run, "10,000 incident events onto planb.incidents: time to pause"),
    "subscribers": (
        subscribers.run,
        "one update to 10,000 email subscribers over loopback SMTP: rate, time to the last, "
        "the throttle, and no duplicate after kill -9 mid fan-out (1,000 with --quick)",
    ),
}
RESULTS = Path(__file__).parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:16} {about}" for name, (_, about) in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Plan B's benchmarks: every figure as median, p99 and max with its target "
        "(issues 17 and 18), beside the Kafka floor and the HTTP floor measured in the same "
        "run; the services' CPU seconds per scenario; a table, JSON and an SVG chart.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios:\n{listing}\n\nKAFKA_BOOTSTRAP_SERVERS selects an external broker. "
        "Progress lines go to stdout as the run goes.",
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
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--processes",
        dest="processes",
        action="store_true",
        default=True,
        help="each service in a process of its own, started as `planb run` starts them, "
        "the load from this process (the default)",
    )
    mode.add_argument(
        "--in-process",
        dest="processes",
        action="store_false",
        help="the services' apps in this process and event loop, over httpx's ASGI "
        "transport (no HTTP hop; the services share one core with the load)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL server (postgresql+asyncpg://postgres@127.0.0.1:5432/postgres): "
        "each scenario's services get fresh databases there, dropped after; "
        "default: SQLite files",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the Kafka floor (a smoke test's shortcut: no ratios to it are printed)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON results (default: %(default)s)"
    )
    return parser


def _process_model(bench: Bench) -> str:
    if bench.processes:
        return (
            "processes: ingest, router, publisher each uvicorn in its own process (as planb "
            "run); load, outside consumer and channel peers in the bench process"
        )
    return (
        "in-process: ingest, router, publisher apps over httpx.ASGITransport, one event "
        "loop with the load; peers are uvicorn servers on loopback in threads"
    )


def _database(bench: Bench) -> str:
    if bench.database_server is None:
        return "SQLite (a file per service)"
    return "PostgreSQL at " + make_url(bench.database_server).render_as_string(hide_password=True)


def _load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


async def _run_all(bench: Bench, names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        scenario, about = SCENARIOS[name]
        bench.progress(f"{name}: {about}")
        load_before = _load()
        started, cpu = time.perf_counter(), time.process_time()
        broker = ticks(bench.broker_pid) if bench.broker_pid else None
        bench.cpu.clear()
        try:
            figures = await scenario(bench)
        except Exception as exc:
            logging.getLogger("bench").exception("scenario %s failed", name)
            figures = {"error": repr(exc)}
        figures["seconds"] = round(time.perf_counter() - started, 1)
        figures["cpu_seconds"] = _cpu(bench, time.process_time() - cpu, broker)
        figures["load_average"] = {"before": load_before, "after": _load()}
        results[name] = figures
    return results


def _cpu(bench: Bench, own: float, broker_before: int | None) -> dict[str, float]:
    """CPU seconds in the scenario: each service process (from /proc, ready to stop), the
    bench process (the load and the outside consumer; in-process mode: the services too)
    and the embedded broker."""
    used: dict[str, float] = {name: round(s, 2) for name, s in sorted(bench.cpu.items())}
    used["bench"] = round(own, 2)
    if bench.broker_pid and broker_before is not None:
        after = ticks(bench.broker_pid) or broker_before
        used["broker"] = round((after - broker_before) / os.sysconf("SC_CLK_TCK"), 2)
    return used


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = list(SCENARIOS) if not args.only else ["floor", *[n for n in args.only if n != "floor"]]
    if args.no_floor:
        names.remove("floor")
    with (
        broker() as (bootstrap, kind, security, broker_pid),
        tempfile.TemporaryDirectory(prefix="planb-bench-") as root,
    ):
        bench = Bench(
            bootstrap,
            kind,
            Path(root),
            args.quick,
            security,
            broker_pid,
            processes=args.processes,
            database_server=args.database_url,
        )
        bench.progress(
            f"broker: {kind} at {bootstrap}; services' fetch wait {bench.fetch_max_wait_ms} ms; "
            f"{_process_model(bench)}; database {_database(bench)}; load average {_load()}"
        )
        load_before = _load()
        scenarios = asyncio.run(_run_all(bench, names))
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "broker": kind,
        "fetch_max_wait_ms": bench.fetch_max_wait_ms,
        "process_model": _process_model(bench),
        "database": _database(bench),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": _load(),
        },
        "scenarios": scenarios,
    }
    failed = [name for name, figures in scenarios.items() if "error" in figures]
    done = {**results, "scenarios": {k: v for k, v in scenarios.items() if "error" not in v}}
    print()
    print(table(done))
    print("\nCPU seconds per scenario (services from /proc, ready to stop; bench: the load):")
    print(cpu_table(done))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    chart = args.output.with_suffix(".svg")
    chart.write_text(svg(done))
    print(f"\nload average {load_before} → {_load()}; results in {args.output}, chart {chart}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
