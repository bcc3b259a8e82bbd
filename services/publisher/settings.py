"""Publisher's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field

from shared.runtime.settings import CommonSettings


class PublisherSettings(CommonSettings):
    service_name: str = "publisher"
    status_page_title: str = Field(default="Service status", min_length=1, max_length=200)
    status_page_incidents: int = Field(default=50, ge=1, le=1000)
    status_page_updates: int = Field(
        default=25,
        ge=1,
        le=1000,
        description="updates shown per incident on the status page, its JSON and feed (the "
        "newest; an incident's list grows with each update)",
    )
    components_file: Path | None = Field(
        default=None,
        description="the status page's components (lines, stations, apps and the tags "
        "incidents affect them by); default CONFIG_DIR/components.yaml, none if absent",
    )
    channel_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    quick_retry_attempts: int = Field(default=3, ge=1, le=10, description="in-call tries")
    quick_retry_max_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    max_delivery_attempts: int = Field(default=8, ge=1, le=100, description="scheduled tries")
    retry_base_seconds: float = Field(default=5.0, ge=0, le=3600)
    retry_max_seconds: float = Field(default=900.0, ge=0, le=86_400)
    retry_deadline_minutes: float = Field(default=120.0, gt=0, le=10_080)
    breaker_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown_seconds: float = Field(default=60.0, ge=0, le=3600)
    sending_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="how long a claim to send holds unless renewed (a send renews it); an "
        "older claim was left by a publisher that died, and another replica takes it back",
    )

    def resolved_components_file(self) -> Path:
        return self.components_file or self.config_dir / "components.yaml"


def get_settings() -> PublisherSettings:
    return PublisherSettings()
