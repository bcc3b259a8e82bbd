"""Router's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.runtime.settings import CommonSettings


class RouterSettings(CommonSettings):
    service_name: str = "router"
    policy_file: Path | None = None
    marketing_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often the scheduler looks for due posts"
    )
    maintenance_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often planned works are started and ended (their pauses and "
        "announcements follow within this)",
    )
    display_timezone: str = Field(default="UTC", description="Zone for 'Next update by HH:MM'")
    templates_dir: Path | None = Field(
        default=None,
        description="Draft templates that replace the built-in ones (default CONFIG_DIR/templates)",
    )
    escalation_interval_seconds: float = Field(
        default=15,
        gt=0,
        le=300,
        description="How often overdue drafts and passed next-update promises are looked for",
    )

    console_secret: SecretStr | None = Field(
        default=None,
        description="Signs the web console's session cookies and CSRF tokens (at least 32 "
        "characters), the same on every router replica; required in production; elsewhere, "
        "when unset, a random one is generated into DATA_DIR/console-secret",
    )
    console_session_hours: float = Field(
        default=12, gt=0, le=168, description="How long a console sign-in lasts"
    )

    @field_validator("console_secret")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 32 or len(set(secret)) < 8 or "change" in secret.lower():
            raise ValueError(
                "CONSOLE_SECRET must be a random string of at least 32 characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return value

    @model_validator(mode="after")
    def _console_secret_in_production(self) -> "RouterSettings":
        if self.environment == "production" and self.console_secret is None:
            raise ValueError(
                "CONSOLE_SECRET must be set when ENVIRONMENT=production (one value for every "
                "router replica, or a console sign-in works on one pod only)"
            )
        return self

    def resolved_policy_file(self) -> Path:
        return self.policy_file or self.config_dir / "policy.yaml"

    def resolved_templates_dir(self) -> Path:
        return self.templates_dir or self.config_dir / "templates"


def get_settings() -> RouterSettings:
    return RouterSettings()
