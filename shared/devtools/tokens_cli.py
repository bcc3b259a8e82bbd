"""`planb tokens`: personal API tokens (issue, list, rotate, revoke) and the tokens file.

The personal tokens live in the router's database (`ACCOUNTS_DATABASE_URL`; locally
`DATA_DIR/router.db`), so this command changes them for every service and replica at once;
each change is audited (the router moves it into its audit log within seconds).
"""

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.errors import DomainError
from shared.contract.events import utcnow
from shared.runtime import migrations
from shared.runtime.database import Database
from shared.runtime.settings import CommonSettings
from shared.web import tokens
from shared.web.auth import Role, generate_dev_tokens
from shared.web.tokens import IssuedToken, TokenInfo

T = TypeVar("T")

EXAMPLES = """\
examples:
  planb tokens issue --name dana --role duty_manager --expires-in 90d
  planb tokens issue --name olu --role operator --role duty_manager   # several roles
  planb tokens list                # live tokens, no secrets; --all adds ended ones
  planb tokens rotate dana         # a new secret; the old one stops working now
  planb tokens revoke dana         # 401 everywhere from the next request

without an action: the tokens file for a deployment (one token per role, digests in
DATA_DIR/tokens.json, secrets in DATA_DIR/dev-tokens.json), as `deploy/README.md` uses it.
"""


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "tokens",
        help="personal API tokens: issue, list, rotate, revoke",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="default: DATA_DIR or ./data")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the accounts database; default: ACCOUNTS_DATABASE_URL, else DATA_DIR/router.db",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    issue = actions.add_parser("issue", help="issue a person's token (its secret is shown once)")
    issue.add_argument("--name", required=True, help="the person, as the audit log will say")
    issue.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="repeat for several",
    )
    issue.add_argument("--expires-in", default=None, help="e.g. 90d, 12h, 2w; default: never")
    listing = actions.add_parser("list", help="tokens without their secrets")
    listing.add_argument("--all", action="store_true", help="revoked and rotated-away ones too")
    listing.add_argument("--json", action="store_true", help="as JSON")
    for name, what in (
        ("rotate", "a new secret for NAME's token (same roles, expiry); the old one stops"),
        ("revoke", "end NAME's token: 401 on every service from the next request"),
    ):
        action = actions.add_parser(name, help=what)
        action.add_argument("name", metavar="NAME")


def main(args: argparse.Namespace) -> int:
    if args.action is None:
        return _tokens_file(args.data_dir or CommonSettings().data_dir)
    try:
        return asyncio.run(_act(args, _accounts_url(args)))
    except DomainError as refused:
        print(f"planb tokens: {refused.detail or refused.title}", file=sys.stderr)
        return 1


def _accounts_url(args: argparse.Namespace) -> str:
    """--database-url, else --data-dir's router.db, else the settings' (read only then: in a
    service's container they may describe that service, not this command)."""
    if args.database_url:
        return str(args.database_url)
    if args.data_dir:
        return f"sqlite+aiosqlite:///{args.data_dir / 'router.db'}"
    return CommonSettings().resolved_accounts_database_url()


async def _act(args: argparse.Namespace, url: str) -> int:
    if url.startswith("sqlite"):
        await migrations.upgrade(url, "router")  # a fresh clone: the router has not run yet
    database = Database(url)
    by = f"{getpass.getuser()} (planb tokens)"
    now = utcnow()
    try:
        if args.action == "list":
            found = await _in(
                database, lambda s: tokens.list_tokens(s, now=now, include_ended=args.all)
            )
            _print_list(found, as_json=args.json)
            return 0
        if args.action == "revoke":
            info = await _in(database, lambda s: tokens.revoke(s, args.name, by=by, now=now))
            print(f"revoked {info.name}'s token: every service refuses it from now on")
            return 0
        if args.action == "rotate":
            issued = await _in(database, lambda s: tokens.rotate(s, args.name, by=by, now=now))
        else:
            expires = _expiry(args.expires_in, now)
            roles = [Role(r) for r in args.roles]
            issued = await _in(
                database,
                lambda s: tokens.issue(
                    s, name=args.name, roles=roles, expires_at=expires, by=by, now=now
                ),
            )
        _print_issued(issued)
        return 0
    finally:
        await database.dispose()


async def _in(database: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with database.transaction() as session:
        return await work(session)


def _expiry(text: str | None, now: datetime) -> datetime | None:
    return None if text is None else now + tokens.parse_duration(text)


def _print_issued(issued: IssuedToken) -> None:
    info = issued.info
    until = info.expires_at.isoformat(timespec="minutes") if info.expires_at else "no expiry"
    print(f"{info.name} ({', '.join(info.roles)}; {until}):")
    print(f"  {issued.token}")
    print("Shown this once: only its digest is kept. Hand it to the person privately.")


def _print_list(found: list[TokenInfo], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in found], indent=2))
        return
    if not found:
        print("no personal tokens (planb tokens issue --name NAME --role ROLE)")
        return
    print(f"{'name':20} {'roles':28} {'state':8} {'expires':17} last used")
    for t in found:
        expires = t.expires_at.isoformat(timespec="minutes")[:16] if t.expires_at else "never"
        used = t.last_used_at.isoformat(timespec="minutes")[:16] if t.last_used_at else "never"
        print(f"{t.name:20} {', '.join(t.roles):28} {t.state:8} {expires:17} {used}")


def _tokens_file(data_dir: Path) -> int:
    """The deployment's tokens file: one token per role (see EXAMPLES)."""
    generated = generate_dev_tokens(data_dir)
    for role, token in generated.items():
        print(f"{role:15} {token}")
    print(f"(stored in {data_dir / 'dev-tokens.json'}, mode 0600)")
    return 0
