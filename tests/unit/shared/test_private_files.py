"""The SQLite files (the audit log with draft texts, the tokens' digests) and the data folder
are their owner's alone, whatever the umask: the review found them 0644 in a 0755 folder."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.runtime.database import Database
from shared.web.auth import generate_dev_tokens


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022, as in a shell: files 0644, folders 0755 unless made otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_an_sqlite_database_and_its_wal_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    database = Database(f"sqlite+aiosqlite:///{folder / 'router.db'}")
    try:
        await database.create_all()
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE audit (text TEXT)"))
            await session.execute(text("INSERT INTO audit VALUES ('draft text')"))
        files = sorted(folder.iterdir())
        assert [f.name for f in files] == ["router.db", "router.db-shm", "router.db-wal"]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(folder) == 0o700
    finally:
        await database.dispose()


async def test_an_existing_database_made_readable_is_made_private_again(tmp_path: Path) -> None:
    path = tmp_path / "ingest.db"
    path.touch(mode=0o644)
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.create_all()
    await database.dispose()
    assert mode(path) == 0o600


def test_the_data_folder_is_made_private_even_when_it_exists(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    generate_dev_tokens(folder)
    assert mode(folder) == 0o700
    assert {f.name: mode(f) for f in folder.iterdir()} == {
        "dev-tokens.json": 0o600,
        "tokens.json": 0o600,
    }
