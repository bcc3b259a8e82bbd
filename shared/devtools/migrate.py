"""The migrations command line: `python -m shared.devtools.migrate` (what `make migrate` and
`make migration` run).

    python -m shared.devtools.migrate upgrade [SERVICE ...]     # DATABASE_URL or data/<svc>.db
    python -m shared.devtools.migrate revision SERVICE -m "add drafts.channel_group"
    python -m shared.devtools.migrate check [SERVICE ...]       # exit 1: models and history differ
    python -m shared.devtools.migrate history SERVICE
    python -m shared.devtools.migrate merge SERVICE             # two revisions on one parent
"""

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from shared.runtime.database import create_engine_for
from shared.runtime.migrations import alembic_config, differences, upgrade
from shared.runtime.registry import registered_services, service


def _service_url(name: str) -> str:
    """The URL the service itself would use (its settings class reads the environment)."""
    return str(service(name).get_settings().resolved_database_url())


def _revision(service: str, message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database brought to head."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        asyncio.run(upgrade(url, service))
        config = alembic_config(service, url)
        engine = create_engine_for(url, migrations=True)

        async def generate() -> None:
            try:
                async with engine.begin() as conn:

                    def run(sync: Connection) -> None:
                        config.attributes["connection"] = sync
                        command.revision(config, message=message, autogenerate=True)

                    await conn.run_sync(run)
            finally:
                await engine.dispose()

        asyncio.run(generate())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.devtools.migrate", description=__doc__)
    SERVICES = tuple(registered_services())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="upgrade services' databases to head")
    up.add_argument("services", nargs="*", metavar="SERVICE", help="default: all three")
    up.add_argument("--revision", default="head")
    rev = commands.add_parser("revision", help="autogenerate a revision from the models")
    rev.add_argument("service", choices=SERVICES)
    rev.add_argument("-m", "--message", required=True)
    check = commands.add_parser("check", help="exit 1 when models and migrations differ")
    check.add_argument("services", nargs="*", metavar="SERVICE", help="default: all three")
    merge = commands.add_parser("merge", help="join two heads (revisions on one parent)")
    merge.add_argument("service", choices=SERVICES)
    hist = commands.add_parser("history", help="list a service's revisions")
    hist.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)

    if args.command == "revision":
        _revision(args.service, args.message)
        return 0
    if args.command == "merge":
        command.merge(alembic_config(args.service), "heads", message="merge heads")
        return 0
    if args.command == "history":
        command.history(alembic_config(args.service))
        return 0
    services = args.services or list(SERVICES)
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; one of {', '.join(SERVICES)}")
    if args.command == "upgrade":
        if os.environ.get("DATABASE_URL") and len(services) > 1:
            print(
                "DATABASE_URL is set: each service needs its own database, so name one "
                "service (make migrate SERVICE=router)",
                file=sys.stderr,
            )
            return 2
        for name in services:
            url = _service_url(name)
            asyncio.run(upgrade(url, name, args.revision))
            print(f"{name}: {_safe(url)} at {args.revision}")
        return 0
    failed = False
    for name in services:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite+aiosqlite:///{Path(scratch) / 'check.db'}"
            asyncio.run(upgrade(url, name))
            diff = asyncio.run(differences(url, name))
        if diff:
            failed = True
            print(f"{name}: models and migrations differ: {diff}", file=sys.stderr)
        else:
            print(f"{name}: models and migrations agree")
    return 1 if failed else 0


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
