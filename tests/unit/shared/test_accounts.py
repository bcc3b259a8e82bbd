"""A service's view of the personal tokens when the router's database is not ready: no
file yet or no tables yet is nobody known (401, and no file made); a database that cannot
be reached is a 503 to retry, never a 401 that reads as a revoked token."""

import sqlite3
from pathlib import Path

import pytest

from shared.devtools.broker import free_port
from shared.web.accounts import Accounts
from shared.web.problems import Problem


async def test_no_file_and_no_tables_know_nobody(tmp_path: Path) -> None:
    missing = tmp_path / "router.db"
    accounts = Accounts(f"sqlite+aiosqlite:///{missing}")
    assert await accounts.authenticate("pb_anything") is None
    assert not missing.exists()
    sqlite3.connect(missing).close()  # the file, without the router's tables
    assert await accounts.authenticate("pb_anything") is None
    await accounts.close()


async def test_an_unreachable_database_is_a_503() -> None:
    accounts = Accounts(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(Problem) as refused:
        await accounts.authenticate("pb_anything")
    assert refused.value.status == 503
    await accounts.close()
