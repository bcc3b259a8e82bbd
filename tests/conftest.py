"""Fixtures shared by every test: a real tansu broker, unique topics, polling helpers."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devtools.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker
from tests.databases import scratch_database


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real Kafka-protocol broker (tansu, memory storage) for the whole session; the
    services the tests start (in process or not) use its fetch wait, as under `planb run`."""
    log_file = tmp_path_factory.mktemp("broker") / "tansu.log"
    with (
        pytest.MonkeyPatch.context() as env,
        EmbeddedBroker(log_file=log_file) as running,
    ):
        env.setenv(
            "KAFKA_FETCH_MAX_WAIT_MS",
            os.environ.get("KAFKA_FETCH_MAX_WAIT_MS", str(FETCH_MAX_WAIT_MS)),
        )
        yield running


@pytest.fixture
def bootstrap_servers(broker: EmbeddedBroker) -> str:
    return broker.bootstrap_servers


@pytest.fixture
def topic_prefix() -> str:
    """A fresh topic namespace per test, so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite in the test's folder, or a fresh PostgreSQL database of the test's own on the
    server TEST_DATABASE_URL names (`make test-postgres`; see tests/databases.py)."""
    with scratch_database(tmp_path) as url:
        yield url
