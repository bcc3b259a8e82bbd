"""Each service's Alembic history builds exactly the tables its models describe, on SQLite
and on PostgreSQL (`make test-postgres`), and runs down and up again cleanly."""

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from shared.runtime import migrations
from shared.runtime.database import Database
from shared.runtime.registry import registered_services

SERVICES = list(registered_services())
FIX = "add a revision: make migration SERVICE={service} MSG='what changed' (README, Development)"


@pytest.mark.parametrize("service", SERVICES)
def test_each_history_has_one_head(service: str) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(service))
    heads = script.get_heads()
    assert len(heads) == 1, (
        f"{service} has {len(heads)} migration heads {heads}: two revisions share a parent; "
        f"merge them: .venv/bin/python -m shared.devtools.migrate merge {service}"
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_models_and_migrations_agree(service: str, database_url: str) -> None:
    await migrations.upgrade(database_url, service)
    differences = await migrations.differences(database_url, service)
    assert differences == [], f"{service}'s models differ from its migrations; " + FIX.format(
        service=service
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_history_goes_down_and_up_again(service: str, database_url: str) -> None:
    await migrations.upgrade(database_url, service)
    await migrations.downgrade(database_url, service, "base")
    assert await _tables(database_url) == {"alembic_version"}
    await migrations.upgrade(database_url, service)
    expected = {t for m in migrations.service_metadata(service) for t in m.tables}
    assert await _tables(database_url) == expected | {"alembic_version"}


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    """A second replica (or a restart) finds the schema at head and changes nothing."""
    await migrations.upgrade(database_url, "router")
    await migrations.upgrade(database_url, "router")
    assert await migrations.differences(database_url, "router") == []


async def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await database.dispose()
