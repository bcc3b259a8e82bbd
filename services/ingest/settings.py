"""Ingest's configuration (environment variables)."""

from pydantic import Field

from shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    kafka_send_timeout_seconds: float = Field(default=3.0, gt=0, le=60)


def get_settings() -> IngestSettings:
    return IngestSettings()
