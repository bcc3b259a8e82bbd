"""`planb`: run the whole system locally, or parts of it.

planb run      broker (unless KAFKA_BOOTSTRAP_SERVERS is set) + ingest + router + publisher,
               and a loopback Mastodon/Bluesky sandbox as their channels (unless CHANNELS_FILE)
planb broker   only the embedded Kafka-compatible broker
planb tokens   personal API tokens: issue, list, rotate, revoke (and the tokens file)
planb topics   create or check the Kafka topics (production: before the services)
planb demo     the system, a Mastodon/Bluesky sandbox and a narrated incident
"""

import argparse
import importlib.metadata

from shared.devtools import run_command, tokens_cli, topics_cli
from shared.devtools.broker import EmbeddedBroker
from shared.devtools.demo import command as demo

DEFAULT_BROKER_PORT = 9092


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planb",
        description="Plan B: keep customers informed when operations go wrong.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Configuration comes from environment variables; see README, 'Configuration'.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run_command.add_parser(commands, default_broker_port=DEFAULT_BROKER_PORT)

    broker = commands.add_parser("broker", help="run only the embedded broker")
    broker.add_argument(
        "--port", type=int, default=DEFAULT_BROKER_PORT, help="default: %(default)s"
    )

    tokens_cli.add_parser(commands)
    demo.add_parser(commands)
    topics_cli.add_parser(commands)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("planb")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout not installed
        return "unknown (not installed: run make)"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "run":
        return run_command.run(args)
    if args.command == "broker":
        return _broker(args.port)
    if args.command == "demo":
        return demo.main(args)
    if args.command == "topics":
        return topics_cli.main(args)
    return tokens_cli.main(args)


def _broker(port: int) -> int:
    with EmbeddedBroker(port) as broker:
        print(f"embedded broker on {broker.bootstrap_servers}; Ctrl-C stops it", flush=True)
        try:
            assert broker.process is not None
            broker.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
