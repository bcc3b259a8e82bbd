"""`planb topics create|check`: the topics, made once by whoever deploys, with the cluster's
replication and configs (outside development the services only wait for them).

Reads KAFKA_BOOTSTRAP_SERVERS, the KAFKA_SECURITY_* settings, TOPIC_PREFIX and
TOPIC_PARTITIONS like the services, so it reaches the cluster they will.
"""

import argparse
import asyncio
import sys

from shared.contract.topics import Topics
from shared.runtime.kafka import ensure_topics, missing_topics
from shared.runtime.settings import CommonSettings


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `topics` subcommand of `planb`."""
    topics = commands.add_parser(
        "topics",
        help="create or check the Kafka topics (production: before the services)",
        description="Outside ENVIRONMENT=local/test the services never create topics: they "
        "wait, not ready, naming the missing ones. Run `planb topics create` first.",
    )
    actions = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create the missing topics; existing ones are reported, not changed",
    )
    create.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions per topic (default: TOPIC_PARTITIONS)",
    )
    create.add_argument(
        "--replication-factor", type=int, default=1, help="default: %(default)s (use 3)"
    )
    create.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a topic config for every topic, e.g. min.insync.replicas=2 (repeatable)",
    )
    create.add_argument(
        "--dlq-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config for the .dlq topics only, e.g. retention.ms=2592000000 (repeatable)",
    )
    actions.add_parser("check", help="list the topics and say which are missing (exit 1 if any)")


def main(args: argparse.Namespace) -> int:
    settings = CommonSettings()
    if args.topics_command == "check":
        return asyncio.run(_check(settings))
    try:
        common = _key_values(args.config)
        dlq = common | _key_values(args.dlq_config)
    except ValueError as exc:
        print(f"planb topics: {exc}", file=sys.stderr)
        return 2
    partitions = args.partitions or settings.topic_partitions
    return asyncio.run(
        _create(
            settings,
            partitions=partitions,
            replication_factor=args.replication_factor,
            common=common,
            dlq=dlq,
        )
    )


def _key_values(pairs: list[str]) -> dict[str, str]:
    configs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{pair!r} is not KEY=VALUE")
        configs[key] = value
    return configs


async def _create(
    settings: CommonSettings,
    *,
    partitions: int,
    replication_factor: int,
    common: dict[str, str],
    dlq: dict[str, str],
) -> int:
    names = Topics(settings.topic_prefix).all()
    configs = {name: dlq if name.endswith(".dlq") else common for name in names}
    print(
        f"[planb] creating {len(names)} topics on {settings.kafka_bootstrap_servers} "
        f"({partitions} partitions, replication factor {replication_factor})",
        flush=True,
    )
    try:
        report = await ensure_topics(
            settings.kafka_bootstrap_servers,
            names,
            partitions,
            security=settings.kafka_security(),
            replication_factor=replication_factor,
            configs=configs,
        )
    except Exception as exc:
        print(f"planb topics create: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name in names:
        state = "created" if name in report.created else "exists (left unchanged)"
        settings_note = f"  {configs[name]}" if name in report.created and configs[name] else ""
        print(f"  {name:40} {state}{settings_note}", flush=True)
    print(f"[planb] {len(report.created)} created, {len(report.existing)} already there")
    return 0


async def _check(settings: CommonSettings) -> int:
    names = Topics(settings.topic_prefix).all()
    try:
        missing = await missing_topics(
            settings.kafka_bootstrap_servers, names, security=settings.kafka_security()
        )
    except Exception as exc:
        print(f"planb topics check: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name in names:
        print(f"  {name:40} {'MISSING' if name in missing else 'ok'}")
    if missing:
        print(f"[planb] {len(missing)} missing: run `planb topics create`", file=sys.stderr)
        return 1
    print(f"[planb] all {len(names)} topics present")
    return 0
