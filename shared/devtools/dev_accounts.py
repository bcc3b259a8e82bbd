"""The people a local run signs in as: personal tokens for two duty managers (so the four-eyes
rule can be shown), an operator, a marketer and an admin, in the router's database.

Their secrets are kept in `DATA_DIR/dev-tokens.json` (0600) under role keys the README and the
tests read (`duty_manager`, `duty_manager_2`, `operator`, `marketing`, `admin`), and survive
restarts; one that no longer works (revoked, rotated away, or an older run's role token) is
replaced by a fresh one.
"""

import json
from pathlib import Path

from sqlalchemy import select

from shared.contract.events import utcnow
from shared.runtime import migrations
from shared.runtime.database import Database
from shared.runtime.private_files import private_folder
from shared.web.accounts import ApiToken, live_token
from shared.web.auth import Role, digest, write_private
from shared.web.tokens import issue, revoke

DEV_PEOPLE: dict[str, tuple[str, Role]] = {
    "duty_manager": ("dana", Role.DUTY_MANAGER),
    "duty_manager_2": ("sam", Role.DUTY_MANAGER),
    "operator": ("olu", Role.OPERATOR),
    "marketing": ("mia", Role.MARKETING),
    "admin": ("ada", Role.ADMIN),
}
ISSUER = "planb run"


def accounts_url(data_dir: Path) -> str:
    """Where a local run's router keeps the accounts: its SQLite file."""
    return f"sqlite+aiosqlite:///{data_dir / 'router.db'}"


async def ensure_dev_accounts(data_dir: Path) -> dict[str, str]:
    """Each dev person's working token by role key, issued where missing. The tokens file
    (`tokens.json`) is emptied: a role token of an older run would answer for the person."""
    private_folder(data_dir)
    plain_path = data_dir / "dev-tokens.json"
    plain: dict[str, str] = json.loads(plain_path.read_text()) if plain_path.exists() else {}
    url = accounts_url(data_dir)
    await migrations.upgrade(url, "router")
    database = Database(url)
    now = utcnow()
    try:
        async with database.transaction() as session:
            for key, (name, role) in DEV_PEOPLE.items():
                known = plain.get(key)
                row = None if known is None else await live_token(session, digest(known), now)
                if row is not None and row.name == name:
                    continue
                live = await session.scalar(select(ApiToken).where(ApiToken.live_name == name))
                if live is not None:
                    await revoke(session, name, by=ISSUER, now=now)
                issued = await issue(
                    session, name=name, roles=[role], expires_at=None, by=ISSUER, now=now
                )
                plain[key] = issued.token
    finally:
        await database.dispose()
    write_private(plain_path, json.dumps(plain, indent=2) + "\n")
    write_private(data_dir / "tokens.json", "[]\n")
    return plain
