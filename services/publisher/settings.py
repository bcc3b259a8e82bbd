"""Publisher's configuration (environment variables)."""

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from services.publisher.schedule import RetryPolicy
from shared.runtime.settings import CommonSettings

DEV_SUBSCRIPTION_SECRET = "dev-only-subscription-secret"


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
    components_file: Path | None = Field(
        default=None,
        description="the status page's components (lines, stations, apps and the tags "
        "incidents affect them by); default CONFIG_DIR/components.yaml, none if absent",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="the mail server subscribers' mail goes through: `smtp://user:pass@host:587` "
        "(STARTTLS when the server offers it), `smtp+starttls://` (STARTTLS required), "
        "`smtps://` (TLS from the start, port 465); unset: no email subscriptions",
    )
    smtp_from: str = Field(
        default="Plan B status <status@localhost>",
        max_length=300,
        description="the From: of subscribers' mail",
    )
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    subscription_secret: SecretStr = Field(
        default=SecretStr(DEV_SUBSCRIPTION_SECRET),
        description="signs the confirmation and unsubscribe links subscribers are sent (HMAC); "
        "in production, subscriptions stay closed without one (and SMTP_URL needs one)",
    )
    subscriber_send_rate: float = Field(
        default=50.0,
        gt=0,
        le=10_000,
        description="messages per second to subscribers, per publisher replica (keep it under "
        "the mail server's limits)",
    )
    subscriber_batch: int = Field(
        default=20,
        ge=1,
        le=5000,
        description="notifications claimed and settled together: a publisher killed mid-batch "
        "leaves at most this many mails as `failed` (not resent: they may have gone)",
    )
    subscriber_webhooks_private: bool = Field(
        default=False,
        description="let webhook subscriptions name plain http and loopback, private or "
        "link-local addresses (tests, a local demo); off, a public form cannot make the "
        "publisher call inside its own network",
    )
    subscribe_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="opt-in messages (confirmation mails, verification pings) the public "
        "subscribe form may cause per minute, all replicas together; past it a 429: anyone "
        "may type any address, and the mail server's reputation is the page's",
    )
    subscriber_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how often the notifier looks for work"
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

    @model_validator(mode="after")
    def _subscription_secret_in_production(self) -> "PublisherSettings":
        if self.smtp_url is not None and not self.subscriptions_open():
            raise ValueError("SUBSCRIPTION_SECRET must be set with SMTP_URL in production")
        return self

    def subscriptions_open(self) -> bool:
        """Readers may subscribe: anywhere but production, or there with a secret of its own
        (links signed with the published development secret could be forged)."""
        secret = self.subscription_secret.get_secret_value()
        return self.environment != "production" or secret != DEV_SUBSCRIPTION_SECRET

    def retry_policy(self) -> RetryPolicy:
        """The durable retry schedule both delivery engines (channels, subscribers) follow."""
        return RetryPolicy(
            max_attempts=self.max_delivery_attempts,
            base_seconds=self.retry_base_seconds,
            max_seconds=self.retry_max_seconds,
            deadline_seconds=self.retry_deadline_minutes * 60,
        )

    def resolved_components_file(self) -> Path:
        return self.components_file or self.config_dir / "components.yaml"


def get_settings() -> PublisherSettings:
    return PublisherSettings()
