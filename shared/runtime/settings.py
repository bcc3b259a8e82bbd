"""Settings every service reads; each service subclasses `CommonSettings` with its own fields."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime.kafka_security import KafkaSecurity, SaslMechanism, SecurityProtocol
from shared.runtime.logs import LogFormat

Environment = Literal["local", "test", "production"]
PRODUCTION_OPS_PORT = 9100


class CommonSettings(BaseSettings):
    """Configuration shared by ingest, router and publisher (environment variables, no prefix)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str = "planb"
    environment: Environment = "local"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="planb", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=8, ge=1, le=1000)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_request_timeout_ms: int = Field(default=5_000, ge=500)
    kafka_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="how long the service's consumers (all latency-critical: router on "
        "incidents and deliveries, publisher on outbound) let the broker hold a fetch that "
        "finds no records. Apache Kafka answers such a fetch as soon as a record arrives, so "
        "the default 500 costs no latency there; the embedded broker (tansu) answers only "
        "when the wait runs out, so a hop costs up to this much: `planb run`, the demo, the "
        "bench and the tests set 10 with it (hop p50 ~3 ms; each idle consumer then costs "
        "~5% of a core, and the broker as much again; `python -m bench` measures both)",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="`PLAINTEXT` (the embedded broker), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` "
        "(managed Kafka: Confluent Cloud, Amazon MSK, Aiven)",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with `SASL_*`",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="SASL user (Confluent Cloud: the API key); required with `SASL_*`"
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        description="SASL password (Confluent Cloud: the API secret); required with `SASL_*`",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates; unset: the "
        "system's CAs (enough for Confluent Cloud and MSK)",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="client certificate (PEM) for brokers that require mutual TLS"
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="the client certificate's private key (PEM)"
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="check the broker certificate's name against its address"
    )
    data_dir: Path = Path("data")
    database_url: str | None = None
    tokens_file: Path | None = None
    accounts_database_url: str | None = Field(
        default=None,
        description="the database holding the personal tokens (`planb tokens`, "
        "`/v1/admin/tokens`): the router's, which creates the tables; every service reads "
        "them there on each request, so a revocation holds at once on all. Unset: the "
        "router's own database on the router, `DATA_DIR/router.db` (its local default) on "
        "the others; set it to the router's `DATABASE_URL` wherever that is not SQLite "
        "(required in production on ingest and publisher)",
    )
    config_dir: Path = Path("config")
    channels_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8002"
    log_level: str = "INFO"
    log_format: LogFormat = Field(
        default="text",
        description="`text`: one line per record, `2026-12-01T09:00:00.123+00:00 INFO [router] "
        "logger: message [incident_id=…]`; `json`: one JSON object per line with `timestamp`, "
        "`level`, `service`, `logger`, `message` and, where a line concerns one, "
        "`incident_id`, `message_id`, `draft_id`, `channel_id`, `event_id` (and `trace_id`, "
        "`span_id` while tracing is on) as fields of their own, for a log store",
    )
    ops_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="port of the operations listener: `/metrics`, `/docs`, `/redoc`, "
        "`/openapi.json` and `/readyz` with its details, which then leave the service's own "
        "port (there `/readyz` answers only its status, for probes). Unset: "
        f"{PRODUCTION_OPS_PORT} when ENVIRONMENT=production, else all stay on the service's "
        "port; 0: on the service's port in every environment",
    )
    metrics_refresh_seconds: float = Field(
        default=15.0,
        gt=0,
        description="how often the gauges read from the database (outbox depth, readiness; "
        "the router's pending and overdue drafts, paused channels, held posts) are refreshed; "
        "a scrape of `/metrics` serves the last refresh and runs no query",
    )
    loop_restart_limit: int = Field(
        default=5,
        ge=0,
        description="crashes of one background loop (outbox relay, consumer, dispatcher, "
        "periodic job) within LOOP_RESTART_WINDOW_SECONDS that are restarted (after a jittered "
        "backoff from LOOP_RESTART_BACKOFF_SECONDS, doubling, up to 30 s); one more and the "
        "loop stays down and `/healthz` answers 503 naming it, so the process is restarted",
    )
    loop_restart_window_seconds: float = Field(
        default=300.0, gt=0, description="how far back a loop's crashes count (see above)"
    )
    loop_restart_backoff_seconds: float = Field(
        default=1.0, ge=0, description="the first restart's backoff ceiling (0: none, tests)"
    )
    ops_host: str = Field(
        default="0.0.0.0",  # Prometheus scrapes a pod by its address
        description="address the operations listener binds (keep it off the public network)",
    )

    @model_validator(mode="after")
    def _refuse_local_defaults_in_production(self) -> "CommonSettings":
        if self.environment == "production":
            if self.database_url is None:
                raise ValueError("DATABASE_URL must be set when ENVIRONMENT=production")
            if self.tokens_file is None:
                raise ValueError(
                    "TOKENS_FILE must be set when ENVIRONMENT=production (the hashed bearer "
                    "tokens; `DATA_DIR/tokens.json` is the local dev tokens' place)"
                )
            if self.accounts_database_url is None and not self.holds_accounts:
                raise ValueError(
                    "ACCOUNTS_DATABASE_URL must be set when ENVIRONMENT=production (the "
                    "router's DATABASE_URL: the personal tokens live there)"
                )
        return self

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> "CommonSettings":
        try:
            self.kafka_security()
        except ValidationError as exc:
            problems = [str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()]
            raise ValueError("; ".join(problems)) from None
        return self

    @property
    def creates_topics(self) -> bool:
        """Only in development and tests do services create missing topics; elsewhere
        `planb topics create` does, with the cluster's replication, before they start."""
        return self.environment in ("local", "test")

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )

    def resolved_database_url(self) -> str:
        """`DATABASE_URL`, or an SQLite file named after the service under `DATA_DIR`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    def resolved_ops_port(self) -> int | None:
        """The operations listener's port, or None when they stay on the service's port."""
        if self.ops_port is None:
            return PRODUCTION_OPS_PORT if self.environment == "production" else None
        return self.ops_port or None

    def resolved_accounts_database_url(self) -> str:
        """`ACCOUNTS_DATABASE_URL`, or where the router keeps the accounts by default."""
        if self.accounts_database_url:
            return self.accounts_database_url
        if self.holds_accounts:
            return self.resolved_database_url()
        return f"sqlite+aiosqlite:///{self.data_dir / 'router.db'}"

    @property
    def holds_accounts(self) -> bool:
        """Whether this service's own database holds the accounts (the router's does)."""
        return False

    def resolved_tokens_file(self) -> Path:
        return self.tokens_file or self.data_dir / "tokens.json"

    def resolved_channels_file(self) -> Path:
        return self.channels_file or self.config_dir / "channels.yaml"
