"""Ingest's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shared.runtime.settings import CommonSettings


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=60, ge=1)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    accept_wait_ms: int = Field(
        default=1000,
        ge=10,
        le=30_000,
        description="How long a request waits for Kafka's acknowledgement before it answers "
        "`queued` (the event is already in the outbox; the relay sends it)",
    )
    commit_batch_limit: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Most requests whose writes one transaction commits (group commit: "
        "requests that arrive while a transaction commits share the next one)",
    )
    alertmanager_token: SecretStr | None = Field(
        default=None, description="Shared secret Alertmanager sends as its bearer token"
    )
    alertmanager_rate_limit_per_minute: int = Field(default=12_000, ge=1)
    alertmanager_mapping_file: Path | None = None

    @model_validator(mode="after")
    def _refuse_weak_alertmanager_secret(self) -> "IngestSettings":
        secret = self.alertmanager_token.get_secret_value() if self.alertmanager_token else None
        if secret is not None and self.environment == "production" and len(secret) < 24:
            raise ValueError("ALERTMANAGER_TOKEN must be at least 24 characters in production")
        return self

    def resolved_alertmanager_mapping_file(self) -> Path:
        return self.alertmanager_mapping_file or self.config_dir / "alertmanager.yaml"


def get_settings() -> IngestSettings:
    return IngestSettings()
