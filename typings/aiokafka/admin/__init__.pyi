from ssl import SSLContext
from typing import Any, type_check_only

from aiokafka._types import SaslMechanism, SecurityProtocol
from aiokafka.abc import AbstractTokenProvider

class NewTopic:
    name: str
    num_partitions: int
    replication_factor: int
    def __init__(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        replica_assignments: dict[int, list[int]] | None = None,
        topic_configs: dict[str, str] | None = None,
    ) -> None: ...

@type_check_only
class CreateTopicsResponse:
    # (topic, error_code) in v0; (topic, error_code, error_message) from v1 on.
    topic_errors: list[tuple[str, int, *tuple[str | None, ...]]]

class AIOKafkaAdminClient:
    def __init__(
        self,
        *,
        loop: None = None,
        bootstrap_servers: str | list[str] = "localhost",
        client_id: str = ...,
        request_timeout_ms: int = 40000,
        connections_max_idle_ms: int = 540000,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300000,
        security_protocol: SecurityProtocol = "PLAINTEXT",
        ssl_context: SSLContext | None = None,
        api_version: None = None,
        sasl_mechanism: SaslMechanism = "PLAIN",
        sasl_plain_username: str | None = None,
        sasl_plain_password: str | None = None,
        sasl_kerberos_service_name: str = "kafka",
        sasl_kerberos_domain_name: str | None = None,
        sasl_oauth_token_provider: AbstractTokenProvider | None = None,
    ) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def create_topics(
        self, new_topics: list[NewTopic], timeout_ms: int | None = None, validate_only: bool = False
    ) -> CreateTopicsResponse: ...
    async def list_topics(self) -> list[str]: ...
    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]: ...
    async def delete_topics(self, topics: list[str], timeout_ms: int | None = None) -> Any: ...
