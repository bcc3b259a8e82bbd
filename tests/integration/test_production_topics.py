"""Outside development the services never create topics: they wait, not ready, naming the
missing ones, until `planb topics create` has made them (with its partitions and configs)."""

import asyncio
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import AuditRecorded, CloudEvent, utcnow
from shared.contract.topics import Topics
from shared.devtools import cli
from shared.runtime.consumer import ConsumerConfig, EventConsumer
from shared.runtime.database import Database
from shared.runtime.kafka import EventProducer, ensure_topics, missing_topics
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import read_events, running_ingest
from tests.support import eventually


async def partitions_of(bootstrap_servers: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


async def planb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`planb ...` (its own event loop, so in a thread); its exit code and output."""
    code = await asyncio.to_thread(cli.main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_production_waits_for_planb_topics_create(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = Topics(topic_prefix)
    tokens = generate_dev_tokens(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)
    production = {
        "environment": "production",
        "tokens_file": tmp_path / "tokens.json",
        "accounts_database_url": f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}",
        "ops_port": 0,  # /readyz's details on the app's port, as this test reads them
    }
    async with running_ingest(
        tmp_path, bootstrap_servers, topic_prefix, database_url, **production
    ) as ingest:
        ready = await ingest.get("/readyz")
        assert ready.status_code == 503
        detail = ready.json()["checks"]["topics"]
        assert detail["ok"] is False
        assert f"{topics.incidents}, {topics.incidents}.dlq" in detail["detail"]
        assert "planb topics create" in detail["detail"]

        answer = await ingest.post(
            "/v1/incidents",
            headers={"Authorization": f"Bearer {tokens['operator']}"},
            json={"title": "Lifts out at Central", "severity": "sev2"},
        )
        assert answer.status_code == 202
        assert answer.json()["status"] == "queued"  # in the outbox, not sent
        # nothing was sent, so nothing was auto-created with the broker's defaults
        assert await missing_topics(bootstrap_servers, topics.all()) == topics.all()

        code, output = await planb(capsys, "topics", "check")
        assert code == 1
        assert f"{topics.audit:40} MISSING" in output

        code, output = await planb(
            capsys, "topics", "create", "--partitions", "3", "--dlq-config", "retention.ms=600000"
        )
        assert code == 0, output
        assert f"{topics.incidents:40} created" in output
        assert (
            f"{topics.incidents}.dlq".ljust(40) + " created  {'retention.ms': '600000'}" in output
        )
        assert "8 created, 0 already there" in output

        async def ready_now() -> httpx.Response | None:
            response = await ingest.get("/readyz")
            return response if response.status_code == 200 else None

        ready = await eventually(ready_now, what="ingest ready once the topics exist")
        assert ready.json()["checks"]["topics"]["detail"] == "8 topics present"
        (event,) = await read_events(bootstrap_servers, topics.incidents, 1)
        assert event.id == answer.json()["event_id"]
        assert await partitions_of(bootstrap_servers, topics.incidents) == 3

    code, output = await planb(capsys, "topics", "create")
    assert code == 0
    assert f"{topics.outbound:40} exists (left unchanged)" in output
    assert "0 created, 8 already there" in output
    code, output = await planb(capsys, "topics", "check")
    assert code == 0
    assert "all 8 topics present" in output


async def test_topics_create_refuses_a_malformed_config(
    bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    code, output = await planb(capsys, "topics", "create", "--config", "min.insync.replicas")
    assert code == 2
    assert "'min.insync.replicas' is not KEY=VALUE" in output


async def test_a_production_consumer_waits_for_its_topic_without_creating_it(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str
) -> None:
    """tansu, like a Kafka with auto.create.topics.enable, creates a topic a consumer asks
    metadata for: the consumer must not subscribe before `planb topics create` ran."""
    topic = Topics(topic_prefix).audit
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    await database.create_all()
    producer = EventProducer(bootstrap_servers, client_id="tests")
    await producer.start()
    handled: list[str] = []

    async def on_audit(event: CloudEvent, _session: AsyncSession) -> None:
        handled.append(event.id)

    consumer = EventConsumer(
        ConsumerConfig(
            bootstrap_servers,
            f"{topic_prefix}-g",
            [topic],
            retry_max_seconds=0.5,
            require_existing_topics=True,
        ),
        handlers={AuditRecorded.event_type: on_audit},
        database=database,
        dlq_producer=producer,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def waiting() -> str | None:
            error = consumer.stats.last_error
            return error if error and "missing topics" in error else None

        assert topic in await eventually(waiting, what="the consumer waiting for its topic")
        assert await missing_topics(bootstrap_servers, [topic]) == [topic]

        await ensure_topics(bootstrap_servers, [topic], 2)
        event = CloudEvent.wrap(
            AuditRecorded(
                actor="t", action="poke", entity_type="thing", entity_id="1", at=utcnow()
            ),
            source="/tests",
        )
        await producer.publish(topic, "1", event)
        await eventually(lambda: _some(handled), what="the event handled once the topic exists")
        assert handled == [event.id]
    finally:
        consumer.request_stop()
        await task
        await producer.stop()
        await database.dispose()


async def _some(items: list[str]) -> list[str] | None:
    return items or None
