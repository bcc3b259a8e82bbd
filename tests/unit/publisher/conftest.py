"""Fixtures for the publisher's unit tests: a real database (SQLite, or PostgreSQL under
`make test-postgres`) and the real handlers."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from publisher_harness import CHANNELS, Publisher, RecordingAdapter

from services.publisher.channels import ChannelRegistry
from services.publisher.channels.platforms.statuspage import StatusPageChannel
from services.publisher.channels.registry import InTransaction
from services.publisher.models import Base
from services.publisher.settings import PublisherSettings
from shared.contract.topics import Topics
from shared.runtime.database import Database


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> PublisherSettings:
    return PublisherSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        public_base_url="https://status.example.test",
        topic_prefix="t",
    )


@pytest.fixture
async def database(settings: PublisherSettings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url())
    await database.create_all(Base.metadata)
    yield database
    await database.dispose()


@pytest.fixture
def recording() -> RecordingAdapter:
    return RecordingAdapter()


@pytest.fixture
def registry(settings: PublisherSettings, recording: RecordingAdapter) -> ChannelRegistry:
    """The real status-page adapter; `promo` (a webhook, not built yet) records instead."""
    in_transaction: dict[str, InTransaction] = {
        "status": lambda session: StatusPageChannel("status", settings.public_base_url, session),
        "promo": recording.bound,
    }
    return ChannelRegistry(CHANNELS, in_transaction)


@pytest.fixture
def publisher(
    database: Database, registry: ChannelRegistry, settings: PublisherSettings
) -> Publisher:
    return Publisher(database, registry, Topics(settings.topic_prefix))
