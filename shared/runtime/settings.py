"""Settings every service reads; each service subclasses `CommonSettings` with its own fields."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "test", "production"]


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
    data_dir: Path = Path("data")
    database_url: str | None = None
    tokens_file: Path | None = None
    config_dir: Path = Path("config")
    channels_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8002"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_local_defaults_in_production(self) -> "CommonSettings":
        if self.environment == "production" and self.database_url is None:
            raise ValueError("DATABASE_URL must be set when ENVIRONMENT=production")
        return self

    def resolved_database_url(self) -> str:
        """`DATABASE_URL`, or an SQLite file named after the service under `DATA_DIR`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    def resolved_tokens_file(self) -> Path:
        return self.tokens_file or self.data_dir / "tokens.json"

    def resolved_channels_file(self) -> Path:
        return self.channels_file or self.config_dir / "channels.yaml"
