"""The publisher app in-process against the real broker and a real database, and a producer
that plays the router's and ingest's parts on its topics (the status page's tests)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.publisher.main import create_app
from services.publisher.settings import PublisherSettings
from shared.contract.events import (
    Affected,
    CloudEvent,
    EventData,
    IncidentRaised,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
)
from shared.contract.topics import Topics
from shared.runtime.kafka import EventProducer
from shared.web.auth import generate_dev_tokens
from tests.support import eventually

CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
"""


@dataclass
class RunningPublisher:
    client: httpx.AsyncClient
    producer: EventProducer
    topics: Topics
    tokens: dict[str, str]
    settings: PublisherSettings

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def send(self, topic: str, key: str, data: EventData) -> None:
        await self.producer.publish(topic, key, CloudEvent.wrap(data, source="/tests"))

    async def publish_update(
        self, incident: IncidentRef, *, message_id: str, text: str = "We are on it."
    ) -> None:
        """An approved status update for the status page, as the router requests it."""
        request = PublishRequested(
            message_id=message_id,
            channel_id="status",
            kind=MessageKind.STATUS_UPDATE,
            text=text,
            incident=incident,
            approved_by="dm",
            requested_at=datetime.now(UTC),
        )
        await self.send(self.topics.outbound, "status", request)

    async def raise_incident(
        self, incident_id: str, *, regions: list[str], severity: Severity = Severity.SEV2
    ) -> None:
        """What ingest puts on `planb.incidents`: the publisher learns the incident's tags."""
        now = datetime.now(UTC)
        raised = IncidentRaised(
            incident_id=incident_id,
            title="Signal failure",
            severity=severity,
            affected=Affected(regions=regions),
            started_at=now,
            raised_by="ops",
            raised_at=now,
        )
        await self.send(self.topics.incidents, incident_id, raised)

    async def export(self, address: str) -> list[dict[str, Any]]:
        answer = await self.client.post(
            "/v1/subscribers/export", json={"address": address}, headers=self.auth("admin")
        )
        assert answer.status_code == 200, answer.text
        records: list[dict[str, Any]] = answer.json()
        return records

    async def board(self) -> dict[str, Any]:
        answer = await self.client.get("/status.json")
        answer.raise_for_status()
        board: dict[str, Any] = answer.json()
        return board


@asynccontextmanager
async def running_publisher(
    tmp_path: Path,
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
    files: dict[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningPublisher]:
    """`files` are written to the config folder (channels.yaml, components.yaml, ...)."""
    (tmp_path / "channels.yaml").write_text(CHANNELS)
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    tokens = generate_dev_tokens(tmp_path)
    settings = PublisherSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        topic_partitions=2,
        kafka_session_timeout_ms=6000,
        data_dir=tmp_path,
        config_dir=tmp_path,
        database_url=database_url,
        public_base_url="https://status.example.test",
        **overrides,
    )
    app = create_app(settings)
    producer = EventProducer(bootstrap_servers, client_id="status-test")
    async with app.router.lifespan_context(app):
        await producer.start()
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://publisher"
            ) as client:

                async def ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await eventually(ready, within=30, what="publisher ready")
                yield RunningPublisher(client, producer, Topics(topic_prefix), tokens, settings)
        finally:
            await producer.stop()


def incident_ref(incident_id: str, *, severity: str, status: str) -> IncidentRef:
    return IncidentRef(
        incident_id=incident_id,
        title="Signal failure",
        severity=severity,  # type: ignore[arg-type]
        status=IncidentStatus(status),
    )
