"""`planb`: run the whole system locally, or parts of it.

planb run      broker (unless KAFKA_BOOTSTRAP_SERVERS is set) + ingest + router + publisher
planb broker   only the embedded Kafka-compatible broker
planb tokens   (re)print the local dev tokens, creating them if needed
planb topics   create or check the Kafka topics (production: before the services)
planb demo     the system, a Mastodon/Bluesky sandbox and a narrated incident
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shared import demo, topics_cli
from shared.auth import generate_dev_tokens
from shared.broker import EmbeddedBroker, free_port, port_open
from shared.kafka import ensure_topics
from shared.settings import CommonSettings
from shared.supervisor import ServiceSpec, Supervisor
from shared.topics import Topics

DEFAULT_BROKER_PORT = 9092


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planb",
        description="Plan B: keep customers informed when operations go wrong.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Configuration comes from environment variables; see README, 'Configuration'.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run broker, ingest, router and publisher (Ctrl-C stops all)",
        description="Start the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), create "
        "the topics, generate dev tokens, start the three services on SQLite under --data-dir "
        "and print their URLs and tokens. Ctrl-C stops everything.",
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
        default=DEFAULT_BROKER_PORT,
        help="embedded broker port; a free one is picked if it is taken (default: %(default)s)",
    )
    run.add_argument(
        "--data-dir", type=Path, default=None, help="state folder (default: DATA_DIR or ./data)"
    )
    run.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for readiness"
    )

    broker = commands.add_parser("broker", help="run only the embedded broker")
    broker.add_argument(
        "--port", type=int, default=DEFAULT_BROKER_PORT, help="default: %(default)s"
    )

    tokens = commands.add_parser("tokens", help="print the local dev tokens (created if missing)")
    tokens.add_argument("--data-dir", type=Path, default=None, help="default: DATA_DIR or ./data")
    demo.add_parser(commands)
    topics_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "broker":
        return _broker(args.port)
    if args.command == "demo":
        return demo.main(args)
    if args.command == "topics":
        return topics_cli.main(args)
    return _tokens(args.data_dir or CommonSettings().data_dir)


def _tokens(data_dir: Path) -> int:
    tokens = generate_dev_tokens(data_dir)
    for role, token in tokens.items():
        print(f"{role:13} {token}")
    print(f"(stored in {data_dir / 'dev-tokens.json'}, mode 0600)")
    return 0


def _broker(port: int) -> int:
    with EmbeddedBroker(port) as broker:
        print(f"embedded broker on {broker.bootstrap_servers}; Ctrl-C stops it", flush=True)
        try:
            assert broker.process is not None
            broker.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = CommonSettings()
    data_dir: Path = args.data_dir or settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    for port in (args.ingest_port, args.router_port, args.publisher_port):
        if port_open("127.0.0.1", port):
            print(f"planb: port {port} is already in use (another `make run`?)", file=sys.stderr)
            return 1
    broker: EmbeddedBroker | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    try:
        if bootstrap is None:
            port = args.broker_port
            if port_open("127.0.0.1", port):
                port = free_port()
                print(f"port {args.broker_port} is taken; embedded broker uses {port}")
            broker = EmbeddedBroker(port, log_file=data_dir / "logs" / "broker.log").start()
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
        tokens = generate_dev_tokens(data_dir)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATA_DIR": str(data_dir),
            "TOKENS_FILE": str(data_dir / "tokens.json"),
            "PUBLIC_BASE_URL": os.environ.get(
                "PUBLIC_BASE_URL", f"http://{args.host}:{args.publisher_port}"
            ),
        }
        specs = [
            ServiceSpec("ingest", "services.ingest.main:create_app", args.ingest_port),
            ServiceSpec("router", "services.router.main:create_app", args.router_port),
            ServiceSpec("publisher", "services.publisher.main:create_app", args.publisher_port),
        ]
        supervisor = Supervisor(specs, host=args.host, env=env)
        return asyncio.run(
            supervisor.run(
                ready_timeout=args.ready_timeout,
                on_ready=lambda: _print_ready(args, specs, tokens, data_dir),
            )
        )
    finally:
        if broker is not None:
            broker.stop()
            print("[planb] embedded broker stopped", flush=True)


def _print_ready(
    args: argparse.Namespace, specs: list[ServiceSpec], tokens: dict[str, str], data_dir: Path
) -> None:
    base = f"http://{args.host}"
    lines = ["", "Plan B is running:"]
    for spec in specs:
        lines.append(f"  {spec.name:10} {base}:{spec.port}   (API docs: {base}:{spec.port}/docs)")
    lines += [
        f"  status page {base}:{args.publisher_port}/status",
        "",
        f"Tokens ({data_dir / 'dev-tokens.json'}):",
        *[f"  {role:13} {token}" for role, token in tokens.items()],
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


if __name__ == "__main__":
    raise SystemExit(main())
