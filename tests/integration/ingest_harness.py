"""Running ingest in-process against a real broker and database, and reading its topic."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from services.ingest.main import create_app
from services.ingest.settings import IngestSettings
from shared.contract.events import CloudEvent, parse_event
from tests.support import read_records


@asynccontextmanager
async def running_ingest(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        ingest_settings(tmp_path, bootstrap_servers, topic_prefix, database_url, **overrides)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def ingest_settings(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str, **overrides: Any
) -> IngestSettings:
    """Ingest's settings for a test: its broker, topics, database and files under tmp_path."""
    return IngestSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        topic_partitions=2,
        data_dir=tmp_path,
        database_url=database_url,
        **overrides,
    )


async def read_events(
    bootstrap_servers: str, topic: str, count: int, within: float = 30
) -> list[CloudEvent]:
    """Every event on `topic` from the start, once at least `count` have arrived."""
    records = await read_records(bootstrap_servers, topic, count, within=within)
    return [parse_event(r.value) for r in records]
