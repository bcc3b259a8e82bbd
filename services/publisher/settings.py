"""Publisher's configuration (environment variables)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from shared.runtime.settings import CommonSettings


class PublisherSettings(CommonSettings):
    service_name: str = "publisher"
    status_page_title: str = Field(default="Service status", min_length=1, max_length=200)
    status_page_incidents: int = Field(default=50, ge=1, le=1000)
    display_timezone: str = Field(
        default="UTC",
        description="IANA zone (`Europe/London`) of the times customers read: the router's "
        "'Next update by HH:MM' in drafts and every time on the status page, marked with it "
        "(`15:05 BST`); set the same for both so a page never mixes two zones",
    )
    status_page_updates: int = Field(
        default=25,
        ge=1,
        le=1000,
        description="updates shown per incident on the status page, its JSON and feed (the "
        "newest; an incident's list grows with each update)",
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
    outbound_fetch_max_wait_ms: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="the fetch wait of the consumer of planb.outbound alone (unset: "
        "KAFKA_FETCH_MAX_WAIT_MS, right for both brokers: Apache Kafka answers a waiting fetch "
        "at once, tansu after the wait). On tansu the hop costs up to this much, and an idle "
        "consumer at 5 ms ~4% of a core and the broker ~5% (at 10 ms: 2.6% and 3.4%; "
        "`python -m bench` measures both) for ~1 ms less per hop than at 10",
    )
    sending_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="how long a claim to send holds unless renewed (a send renews it); an "
        "older claim was left by a publisher that died, and another replica takes it back",
    )

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/London)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)


def get_settings() -> PublisherSettings:
    return PublisherSettings()
