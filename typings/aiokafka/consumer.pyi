# Plan B reads bytes: the key/value deserializers may only be None, so records are bytes.
from collections.abc import Iterable, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Self

from aiokafka._types import IsolationLevel, OffsetReset, SaslMechanism, SecurityProtocol
from aiokafka.abc import AbstractTokenProvider, ConsumerRebalanceListener
from aiokafka.client import AIOKafkaClient
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

class AIOKafkaConsumer:
    _client: AIOKafkaClient
    def __init__(
        self,
        *topics: str,
        loop: None = None,
        bootstrap_servers: str | list[str] = "localhost",
        client_id: str = ...,
        group_id: str | None = None,
        group_instance_id: str | None = None,
        key_deserializer: None = None,
        value_deserializer: None = None,
        fetch_max_wait_ms: int = 500,
        fetch_max_bytes: int = 52428800,
        fetch_min_bytes: int = 1,
        max_partition_fetch_bytes: int = 1048576,
        request_timeout_ms: int = 40000,
        retry_backoff_ms: int = 100,
        auto_offset_reset: OffsetReset = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        check_crcs: bool = True,
        metadata_max_age_ms: int = 300000,
        partition_assignment_strategy: Sequence[type[AbstractPartitionAssignor]] = ...,
        max_poll_interval_ms: int = 300000,
        rebalance_timeout_ms: int | None = None,
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        consumer_timeout_ms: int = 200,
        max_poll_records: int | None = None,
        ssl_context: SSLContext | None = None,
        security_protocol: SecurityProtocol = "PLAINTEXT",
        api_version: None = None,
        exclude_internal_topics: bool = True,
        connections_max_idle_ms: int = 540000,
        isolation_level: IsolationLevel = "read_uncommitted",
        sasl_mechanism: SaslMechanism = "PLAIN",
        sasl_plain_password: str | None = None,
        sasl_plain_username: str | None = None,
        sasl_kerberos_service_name: str = "kafka",
        sasl_kerberos_domain_name: str | None = None,
        sasl_oauth_token_provider: AbstractTokenProvider | None = None,
        client_rack: str | None = None,
    ) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def assign(self, partitions: Iterable[TopicPartition]) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    def subscribe(
        self,
        topics: Iterable[str] = (),
        pattern: str | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None: ...
    def unsubscribe(self) -> None: ...
    def subscription(self) -> frozenset[str]: ...
    async def commit(
        self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata] | None = None
    ) -> None: ...
    async def committed(self, partition: TopicPartition) -> int | None: ...
    async def topics(self) -> set[str]: ...
    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
    async def position(self, partition: TopicPartition) -> int: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool: ...
    async def seek_to_end(self, *partitions: TopicPartition) -> bool: ...
    async def seek_to_committed(self, *partitions: TopicPartition) -> dict[TopicPartition, int]: ...
    async def end_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]: ...
    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]: ...
    async def getone(self, *partitions: TopicPartition) -> ConsumerRecord[bytes, bytes]: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]: ...
    def __aiter__(self) -> Self: ...
    async def __anext__(self) -> ConsumerRecord[bytes, bytes]: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
