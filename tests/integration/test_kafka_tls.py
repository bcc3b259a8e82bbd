"""Kafka over TLS, set through KAFKA_SECURITY_PROTOCOL/KAFKA_SSL_CAFILE, against a real broker
that answers only TLS (tansu behind a TLS-terminating loopback proxy, tests/tls.py)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.settings import IngestSettings
from shared.contract.events import CloudEvent, IncidentRaised, parse_event
from shared.contract.topics import Topics
from shared.runtime.consumer import ConsumerConfig, EventConsumer
from shared.runtime.database import Database
from shared.runtime.kafka import EventProducer, ensure_topics
from shared.runtime.kafka_security import PLAINTEXT, KafkaSecurity
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import running_ingest
from tests.support import eventually, read_records
from tests.tls import Authority, make_authority, tls_broker


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Authority]:
    """The CA that signed the broker's certificate, and an unrelated one."""
    folder = tmp_path_factory.mktemp("tls")
    return make_authority(folder, "broker"), make_authority(folder, "other")


@pytest.fixture
async def tls_bootstrap(
    tmp_path: Path, authorities: tuple[Authority, Authority]
) -> AsyncIterator[str]:
    async with tls_broker(tmp_path, authorities[0]) as bootstrap:
        yield bootstrap


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Database]:
    """The consumer's own database (ingest, under test too, has `database_url`)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'consumer.db'}")
    await db.create_all()
    yield db
    await db.dispose()


async def test_a_service_and_a_consumer_talk_to_kafka_through_tls(
    tmp_path: Path,
    tls_bootstrap: str,
    authorities: tuple[Authority, Authority],
    topic_prefix: str,
    database_url: str,
    inbox: Database,
) -> None:
    """Ingest's settings alone carry TLS to its topic creation and producer; an EventConsumer
    given the same settings reads the incident back."""
    tokens = generate_dev_tokens(tmp_path)
    tls = {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": authorities[0].ca_file}
    security = IngestSettings(**tls).kafka_security()  # type: ignore[arg-type]
    async with running_ingest(tmp_path, tls_bootstrap, topic_prefix, database_url, **tls) as ingest:
        answer = await ingest.post(
            "/v1/incidents",
            headers={"Authorization": f"Bearer {tokens['operator']}"},
            json={"title": "Lifts out at Central", "severity": "sev2"},
        )
        assert answer.status_code == 202
        assert answer.json()["status"] == "accepted"  # Kafka acknowledged it, through TLS
        incident_id = answer.json()["incident_id"]

    topic = Topics(topic_prefix).incidents
    (record,) = await read_records(tls_bootstrap, topic, 1, security=security)
    assert parse_event(record.value).data.incident_id == incident_id  # type: ignore[union-attr]

    handled: list[str] = []

    async def on_raised(event: CloudEvent, _session: AsyncSession) -> None:
        assert isinstance(event.data, IncidentRaised)
        handled.append(event.data.incident_id)

    dlq_producer = EventProducer(tls_bootstrap, client_id="tls-test", security=security)
    await dlq_producer.start()
    consumer = EventConsumer(
        ConsumerConfig(tls_bootstrap, f"{topic_prefix}-tls", [topic], security=security),
        handlers={IncidentRaised.event_type: on_raised},
        database=inbox,
        dlq_producer=dlq_producer,
    )
    try:
        task = asyncio.create_task(consumer.run())
        await eventually(lambda: _value(handled), what="the incident handled over TLS")
        consumer.request_stop()
        await task
    finally:
        await dlq_producer.stop()
    assert handled == [incident_id]
    assert consumer.stats.last_error is None


async def _value(items: list[str]) -> list[str] | None:
    return items or None


async def test_a_broker_certificate_from_another_ca_is_refused_with_the_reason(
    tls_bootstrap: str, authorities: tuple[Authority, Authority], topic_prefix: str
) -> None:
    wrong = KafkaSecurity(protocol="SSL", ssl_cafile=authorities[1].ca_file)
    reason = r"TLS handshake with 127\.0\.0\.1:\d+ failed: CERTIFICATE_VERIFY_FAILED"
    producer = EventProducer(tls_bootstrap, client_id="tls-test", security=wrong)
    with pytest.raises(KafkaConnectionError, match=reason):
        await producer.start()
    with pytest.raises(KafkaConnectionError, match=f"{reason}.*other-ca.pem"):
        await ensure_topics(tls_bootstrap, Topics(topic_prefix).all(), 1, security=wrong)


async def test_the_broker_answers_only_tls(tls_bootstrap: str) -> None:
    """What makes the first test mean something: a plaintext client gets nowhere."""
    producer = EventProducer(tls_bootstrap, client_id="tls-test", security=PLAINTEXT)
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await producer.start()
