"""Router's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings


class RouterSettings(CommonSettings):
    service_name: str = "router"
    policy_file: Path | None = None
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

    def resolved_policy_file(self) -> Path:
        return self.policy_file or self.config_dir / "policy.yaml"

    def resolved_templates_dir(self) -> Path:
        return self.templates_dir or self.config_dir / "templates"


def get_settings() -> RouterSettings:
    return RouterSettings()
