import asyncio
from ssl import SSLContext

from aiokafka._types import SaslMechanism, SecurityProtocol
from aiokafka.abc import AbstractTokenProvider
from aiokafka.cluster import ClusterMetadata

class AIOKafkaClient:
    cluster: ClusterMetadata
    def __init__(
        self,
        *,
        loop: None = None,
        bootstrap_servers: str | list[str] = "localhost",
        client_id: str = ...,
        metadata_max_age_ms: int = 300000,
        request_timeout_ms: int = 40000,
        retry_backoff_ms: int = 100,
        ssl_context: SSLContext | None = None,
        security_protocol: SecurityProtocol = "PLAINTEXT",
        api_version: None = None,
        connections_max_idle_ms: int = 540000,
        sasl_mechanism: SaslMechanism = "PLAIN",
        sasl_plain_username: str | None = None,
        sasl_plain_password: str | None = None,
        sasl_kerberos_service_name: str = "kafka",
        sasl_kerberos_domain_name: str | None = None,
        sasl_oauth_token_provider: AbstractTokenProvider | None = None,
    ) -> None: ...
    async def fetch_all_metadata(self) -> ClusterMetadata: ...
    def force_metadata_update(self) -> asyncio.Future[bool]: ...
    async def close(self) -> None: ...
