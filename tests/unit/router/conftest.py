"""Fixtures of the router's unit tests: the router's tables on a real database."""

from collections.abc import AsyncIterator

import pytest

from services.router.models import Base
from shared.runtime.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database with the router's tables (SQLite, or PostgreSQL via TEST_DATABASE_URL)."""
    database = Database(database_url)
    await database.create_all(Base.metadata)
    yield database
    await database.dispose()
