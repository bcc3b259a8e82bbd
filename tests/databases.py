"""Scratch databases for tests: SQLite in the test's folder, or on the PostgreSQL server that
`TEST_DATABASE_URL` names, a database of its own per test (created, then dropped), so tests
and concurrent runs never see each other's rows. The URL's own database is only used to
connect for CREATE/DROP DATABASE; its user needs the CREATEDB privilege."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ENV = "TEST_DATABASE_URL"


def server_url() -> str | None:
    """The PostgreSQL server tests run on, or None for SQLite."""
    return os.environ.get(ENV) or None


@contextmanager
def scratch_database(
    folder: Path, name: str = "test", *, server: str | None = None
) -> Iterator[str]:
    """A fresh, empty database URL for one test; dropped afterwards on PostgreSQL.
    `server` picks a PostgreSQL server for a test that needs one whatever the run uses."""
    server = server or server_url()
    if server is None:
        yield f"sqlite+aiosqlite:///{folder / (name + '.db')}"
        return
    database = f"planb_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    _admin(server, f'CREATE DATABASE "{database}"')
    try:
        yield make_url(server).set(database=database).render_as_string(hide_password=False)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _admin(server: str, statement: str) -> None:
    dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    # In a thread of its own: the caller may be inside a running event loop (an async
    # fixture's set-up, or a sync test using Playwright's loop).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()
