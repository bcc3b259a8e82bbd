"""Personal tokens across the three services as real processes: `planb tokens` issues one
into the router's database, ingest, router and publisher accept it, and once it is revoked
every one of them answers 401 to its very next request; the revocation is audited."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.router.models import AuditEntry
from shared.runtime.database import Database
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
"""


@pytest.fixture
def services(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str
) -> Iterator[tuple[dict[str, ServiceProcess], str]]:
    channels = tmp_path / "channels.yaml"
    channels.write_text(CHANNELS)
    env = service_environment(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        channels_file=channels,
    ) | {"CONFIG_DIR": str(CONFIG_DIR)}
    with (
        scratch_database(tmp_path, "router") as router_db,
        scratch_database(tmp_path, "publisher") as publisher_db,
        scratch_database(tmp_path, "ingest") as ingest_db,
    ):
        shared = env | {"ACCOUNTS_DATABASE_URL": router_db}
        with (
            ServiceProcess("router", tmp_path, env=env | {"DATABASE_URL": router_db}) as router,
            ServiceProcess("ingest", tmp_path, env=shared | {"DATABASE_URL": ingest_db}) as ingest,
            ServiceProcess(
                "publisher", tmp_path, env=shared | {"DATABASE_URL": publisher_db}
            ) as publisher,
        ):
            router.start()  # first: it creates the accounts' tables
            yield (
                {"router": router, "ingest": ingest.start(), "publisher": publisher.start()},
                router_db,
            )


def planb_tokens(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "shared.devtools.cli", "tokens", "--database-url", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def statuses(running: dict[str, ServiceProcess], token: str) -> dict[str, int]:
    """What each service answers the token: a read on router and publisher, and on ingest a
    raise with an empty body (422 once the token passes, 401 when it does not)."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10, headers=auth) as http:
        router = await http.get(f"{running['router'].url}/v1/drafts")
        publisher = await http.get(f"{running['publisher'].url}/v1/deliveries")
        ingest = await http.post(f"{running['ingest'].url}/v1/incidents", json={})
    return {
        "router": router.status_code,
        "publisher": publisher.status_code,
        "ingest": ingest.status_code,
    }


async def test_a_revoked_token_is_refused_at_once_by_every_service(
    services: tuple[dict[str, ServiceProcess], str],
) -> None:
    running, router_db = services
    printed = planb_tokens(
        router_db,
        "issue",
        "--name",
        "olga",
        "--role",
        "operator",
        "--role",
        "duty_manager",
        "--expires-in",
        "1d",
    )
    token = next(line.strip() for line in printed.splitlines() if line.strip().startswith("pb_"))
    assert await statuses(running, token) == {"router": 200, "publisher": 200, "ingest": 422}
    listed = planb_tokens(router_db, "list")
    assert "olga" in listed
    assert "duty_manager, operator" in listed
    assert token not in listed

    planb_tokens(router_db, "revoke", "olga")

    assert await statuses(running, token) == {"router": 401, "publisher": 401, "ingest": 401}
    database = Database(router_db)
    try:

        async def audited() -> list[tuple[str, str]]:
            async with database.reader() as session:
                rows = (
                    await session.scalars(
                        select(AuditEntry).where(AuditEntry.entity_type == "token")
                    )
                ).all()
            found = [(r.action, r.entity_id) for r in rows]
            return found if len(found) == 2 else []

        assert await eventually(audited, what="the CLI's changes in the audit log") == [
            ("token issued", "olga"),
            ("token revoked", "olga"),
        ]
    finally:
        await database.dispose()
