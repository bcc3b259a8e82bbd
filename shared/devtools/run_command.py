"""`planb run`: the embedded broker, the three services and, unless real channels are
configured, a loopback sandbox with sample promotions, so a newcomer sees the whole promise."""

import argparse
import asyncio
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from shared.contract.topics import Topics
from shared.devtools.broker import (
    FETCH_MAX_WAIT_MS,
    EmbeddedBroker,
    busy_port,
    free_port,
    port_open,
)
from shared.devtools.dev_accounts import DEV_PEOPLE, ensure_dev_accounts
from shared.devtools.sandbox.accounts import Sandbox, promotions, schedule
from shared.devtools.supervisor import (
    ServiceSpec,
    Supervisor,
    port_flags,
    service_ports,
    service_specs,
)
from shared.runtime.kafka import ensure_topics
from shared.runtime.private_files import private_folder
from shared.runtime.settings import CommonSettings

SAMPLE_PROMOTIONS = 60  # per marketing channel, one a minute: an hour of them
SAMPLE_CAMPAIGN = "planb-run-sample"


def add_parser(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", *, default_broker_port: int
) -> None:
    """The `run` subcommand of `planb`."""
    run = commands.add_parser(
        "run",
        help="run broker, ingest, router and publisher (Ctrl-C stops all)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Start the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), create the
            topics, issue personal dev tokens (two duty managers, an operator, a marketer
            and an admin), start the three services on SQLite under --data-dir and print
            their URLs and tokens. Ctrl-C stops everything.

            Channels: unless CHANNELS_FILE is set (your real channels) or --no-sandbox is
            given, a sandbox of two social platforms runs on loopback, as in `planb demo`:
            Mastodon for the north region (--sandbox-port, default 9101) and the trains
            department (+2), Bluesky for the south (+1), each with a timeline page. Their
            channels and the status page are written to <data-dir>/channels.yaml and passed
            as CHANNELS_FILE, the sandbox credentials in the environment, and a promotion a
            minute is scheduled on north and south for the next hour, so an incident
            visibly holds marketing posts. Without the sandbox the channels are
            CHANNELS_FILE, or config/channels.yaml (the status page only)."""),
    )
    run.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    run.add_argument("--ingest-port", type=int, default=8000, help="default: %(default)s")
    run.add_argument("--router-port", type=int, default=8001, help="default: %(default)s")
    run.add_argument("--publisher-port", type=int, default=8002, help="default: %(default)s")
    run.add_argument(
        "--broker-port",
        type=int,
        default=default_broker_port,
        help="embedded broker port; a free one is picked if it is taken (default: %(default)s)",
    )
    run.add_argument(
        "--data-dir", type=Path, default=None, help="state folder (default: DATA_DIR or ./data)"
    )
    run.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for readiness"
    )
    run.add_argument(
        "--no-sandbox",
        action="store_true",
        help="no loopback sandbox: channels from CHANNELS_FILE or config/channels.yaml",
    )
    run.add_argument(
        "--sandbox-port",
        type=int,
        default=9101,
        help="first of three sandbox ports (north, south, trains); 0 picks free ones "
        "(default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Start everything, print where it is, and wait for Ctrl-C."""
    settings = CommonSettings()
    data_dir: Path = args.data_dir or settings.data_dir
    os.umask(0o077)  # what it and the services it starts create is theirs alone
    private_folder(data_dir)
    ports = port_flags(service_ports(args))
    if not args.no_sandbox and "CHANNELS_FILE" not in os.environ and args.sandbox_port:
        ports += [("--sandbox-port", args.sandbox_port + offset) for offset in range(3)]
    busy = busy_port("planb run", ports, "another `make run` or `make demo`?")
    if busy is not None:
        print(
            busy + ' (with make: make run RUN_ARGS="..."; --help lists every flag)', file=sys.stderr
        )
        return 1
    broker: EmbeddedBroker | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with ExitStack() as stack:
        sandbox: Sandbox | None = None
        if not args.no_sandbox and "CHANNELS_FILE" not in os.environ:
            try:
                sandbox = Sandbox.start(stack, args.sandbox_port)
            except OSError as error:
                print(
                    f"planb: sandbox port taken ({error}); try --sandbox-port 0 or --no-sandbox",
                    file=sys.stderr,
                )
                return 1
            sandbox.write_channels(data_dir / "channels.yaml", by="planb run")
        if bootstrap is None:
            port = args.broker_port
            if port_open("127.0.0.1", port):
                port = free_port()
                print(f"port {args.broker_port} is taken; embedded broker uses {port}")
            broker = EmbeddedBroker(port, log_file=data_dir / "logs" / "broker.log").start()
            stack.callback(lambda: print("[planb] embedded broker stopped", flush=True))
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
            print(f"[planb] embedded broker (tansu) on {bootstrap}", flush=True)
        else:
            print(f"[planb] using Kafka at {bootstrap}", flush=True)
        topics = Topics(settings.topic_prefix)
        asyncio.run(
            ensure_topics(
                bootstrap,
                topics.all(),
                settings.topic_partitions,
                security=settings.kafka_security(),
            )
        )
        print(f"[planb] topics ready: {', '.join(topics.all()[:4])} (+ .dlq)", flush=True)
        tokens = asyncio.run(ensure_dev_accounts(data_dir))
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATA_DIR": str(data_dir),
            "TOKENS_FILE": str(data_dir / "tokens.json"),
            "PUBLIC_BASE_URL": os.environ.get(
                "PUBLIC_BASE_URL", f"http://{args.host}:{args.publisher_port}"
            ),
        }
        if broker is not None and "KAFKA_FETCH_MAX_WAIT_MS" not in os.environ:
            env["KAFKA_FETCH_MAX_WAIT_MS"] = str(FETCH_MAX_WAIT_MS)  # tansu: a hop costs this
        if sandbox is not None:
            env |= {"CHANNELS_FILE": str(data_dir / "channels.yaml"), **sandbox.credentials()}
        specs = service_specs(service_ports(args))

        async def on_ready() -> None:
            if sandbox is not None:
                await _schedule_samples(f"http://127.0.0.1:{args.router_port}", tokens)
            _print_ready(args, specs, tokens=tokens, data_dir=data_dir, sandbox=sandbox)

        supervisor = Supervisor(specs, host=args.host, env=env)
        return asyncio.run(_supervise(supervisor, args.ready_timeout, on_ready))


async def _supervise(
    supervisor: Supervisor, ready_timeout: float, on_ready: Callable[[], Awaitable[None]]
) -> int:
    """Run the services; once they are ready, `on_ready` (Ctrl-C still stops everything)."""
    ready = asyncio.Event()
    services = asyncio.create_task(supervisor.run(ready_timeout=ready_timeout, on_ready=ready.set))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({services, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not services.done():
        await on_ready()
    waiting.cancel()
    return await services


async def _schedule_samples(router: str, tokens: dict[str, str]) -> None:
    """A promotion a minute on north and south for the next hour, so a pause holds some;
    none while an earlier start's samples still wait (scheduled or held), so restarts do
    not pile them up."""
    start = datetime.now(UTC) + timedelta(minutes=1)
    posts = [
        post | {"campaign": SAMPLE_CAMPAIGN}
        for post in promotions(start, every=60, per_channel=SAMPLE_PROMOTIONS)
    ]
    auth = {"Authorization": f"Bearer {tokens['marketing']}"}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for state in ("scheduled", "held"):
                waiting = await http.get(
                    f"{router}/v1/marketing/posts",
                    params={"campaign": SAMPLE_CAMPAIGN, "state": state, "limit": 1},
                    headers=auth,
                )
                if waiting.raise_for_status().json():
                    print(f"[planb] sample promotions of an earlier start are {state}", flush=True)
                    return
            await schedule(http, router, tokens["marketing"], posts=posts)
    except httpx.HTTPError as error:  # the system still runs; say so and go on
        print(f"[planb] could not schedule the sample promotions: {error}", flush=True)
        return
    print(
        f"[planb] scheduled {len(posts)} sample promotions: one a minute on north-mastodon "
        "and south-bluesky for the next hour",
        flush=True,
    )


def _print_ready(
    args: argparse.Namespace,
    specs: list[ServiceSpec],
    *,
    tokens: dict[str, str],
    data_dir: Path,
    sandbox: Sandbox | None,
) -> None:
    base = f"http://{args.host}"
    lines = ["", "Plan B is running:"]
    for spec in specs:
        lines.append(f"  {spec.name:10} {base}:{spec.port}   (API docs: {base}:{spec.port}/docs)")
    lines += [
        f"  console    {base}:{args.router_port}/console",
        f"  status page {base}:{args.publisher_port}/status",
    ]
    if sandbox is not None:
        lines += ["", f"Sandbox timelines (channels in {data_dir / 'channels.yaml'}):"]
        lines += [f"  {a.label}  {a.url}/   -> channel {a.channel_id}" for a in sandbox.accounts()]
    lines += [
        "",
        f"Personal tokens ({data_dir / 'dev-tokens.json'}; `planb tokens list` lists them):",
        *[
            f"  {DEV_PEOPLE[key][0]:5} {DEV_PEOPLE[key][1].value:13} {token}"
            for key, token in tokens.items()
            if key in DEV_PEOPLE
        ],
        "",
        "Raise an incident:",
        f"  curl -s -X POST {base}:{args.ingest_port}/v1/incidents \\",
        f"    -H 'Authorization: Bearer {tokens['operator']}' \\",
        "    -H 'Content-Type: application/json' \\",
        '    -d \'{"title": "Trains delayed at Central", "severity": "sev2"}\'',
        "",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)
