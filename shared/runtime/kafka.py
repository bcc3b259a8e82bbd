"""Kafka plumbing over aiokafka: topic creation and an `acks=all` event producer.

Only the Kafka protocol is used, so the embedded tansu broker and Apache Kafka both work.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code
from aiokafka.structs import RecordMetadata

from shared.contract.events import CloudEvent
from shared.runtime.kafka_security import (
    PLAINTEXT,
    ClientOptions,
    KafkaSecurity,
    tls_handshake_error,
)

log = logging.getLogger(__name__)

CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json")
TOPIC_EXISTS = 36


class MissingTopics(KafkaError):
    """The cluster lacks topics the service needs; a Kafka error, so callers retry."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(self.explanation)

    @property
    def explanation(self) -> str:
        return (
            f"missing topics {', '.join(self.missing)}: run `planb topics create` "
            "(services create topics only when ENVIRONMENT is local or test)"
        )


@dataclass(frozen=True)
class TopicsReport:
    created: list[str]
    existing: list[str]


async def explained(
    exc: KafkaConnectionError, bootstrap_servers: str, security: KafkaSecurity
) -> KafkaConnectionError:
    """`exc`, or a connection error that says which TLS check failed (a wrong CA file, an
    expired or misnamed certificate) when that is why the client could not connect."""
    reason = await tls_handshake_error(bootstrap_servers, security)
    if reason is None:
        return exc
    return KafkaConnectionError(f"{reason} (KAFKA_SSL_CAFILE={security.ssl_cafile})")


async def started_admin(bootstrap_servers: str, security: KafkaSecurity) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=10_000,
        **security.client_options(),
    )
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise await explained(exc, bootstrap_servers, security) from exc
    return admin


async def missing_topics(
    bootstrap_servers: str, topics: list[str], *, security: KafkaSecurity = PLAINTEXT
) -> list[str]:
    """Which of `topics` the cluster lacks (for `planb topics check`)."""
    admin = await started_admin(bootstrap_servers, security)
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [t for t in topics if t not in existing]


async def ensure_topics(
    bootstrap_servers: str,
    topics: list[str],
    partitions: int,
    *,
    security: KafkaSecurity = PLAINTEXT,
    replication_factor: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> TopicsReport:
    """Create the topics that are missing (`configs`: topic configs by topic name); existing
    ones are left as they are."""
    admin = await started_admin(bootstrap_servers, security)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        report = TopicsReport(created=missing, existing=[t for t in topics if t in existing])
        if not missing:
            return report
        response = await admin.create_topics(
            [
                NewTopic(
                    name=t,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs=dict((configs or {}).get(t, {})),
                )
                for t in missing
            ]
        )
        for topic, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_EXISTS):
                message = rest[0] if rest and rest[0] else for_code(code).__name__
                raise RuntimeError(f"could not create topic {topic}: {message} (error {code})")
        log.info("created topics %s", ", ".join(missing))
        return report
    finally:
        await admin.close()


class _ProducerOptions(ClientOptions):
    """The producer's keyword arguments, kept to connect again; typed so the stubs check them."""

    bootstrap_servers: str
    client_id: str
    acks: Literal["all"]
    linger_ms: int
    request_timeout_ms: int


class EventProducer:
    """One long-lived producer per process; every send waits for all in-sync replicas."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        request_timeout_ms: int = 5000,
        security: KafkaSecurity = PLAINTEXT,
    ):
        self._options: _ProducerOptions = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "acks": "all",
            "linger_ms": 0,
            "request_timeout_ms": request_timeout_ms,
            **security.client_options(),
        }
        self._security = security
        self._producer: AIOKafkaProducer | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Connect once; raises `KafkaConnectionError` when the broker is unreachable."""
        producer = AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except KafkaConnectionError as exc:
            await producer.stop()
            bootstrap = str(self._options["bootstrap_servers"])
            raise await explained(exc, bootstrap, self._security) from exc
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self.connected.set()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
            self.connected.clear()

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise KafkaConnectionError("producer is not connected to Kafka")
        return self._producer

    async def publish(self, topic: str, key: str, event: CloudEvent) -> RecordMetadata:
        """Send one event and wait for the broker's acknowledgement."""
        return await self.send_raw(topic, key, event.to_bytes())

    async def send_raw(
        self, topic: str, key: str, value: bytes, *, headers: list[tuple[str, bytes]] | None = None
    ) -> RecordMetadata:
        return await self._require().send_and_wait(
            topic, value=value, key=key.encode(), headers=headers or [CONTENT_TYPE_HEADER]
        )

    async def send_many(self, records: list[tuple[str, str, bytes]]) -> list[BaseException | None]:
        """Send records in order; for each, None once acknowledged or the error it met."""
        producer = self._require()
        futures = [
            await producer.send(topic, value=value, key=key.encode(), headers=[CONTENT_TYPE_HEADER])
            for topic, key, value in records
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [result if isinstance(result, BaseException) else None for result in results]

    async def missing_topics(self, topics: set[str]) -> set[str]:
        """Which of `topics` the broker lacks, by a fresh metadata request."""
        metadata = await self._require().client.fetch_all_metadata()
        return topics - set(metadata.topics())

    async def is_connected(self) -> bool:
        """True when the broker answers a metadata request."""
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=2)
        except (KafkaError, OSError, TimeoutError):
            return False
        return True
