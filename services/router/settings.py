"""Router's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings


class RouterSettings(CommonSettings):
    service_name: str = "router"
    policy_file: Path | None = None
    display_timezone: str = Field(default="UTC", description="Zone for 'Next update by HH:MM'")

    def resolved_policy_file(self) -> Path:
        return self.policy_file or self.config_dir / "policy.yaml"


def get_settings() -> RouterSettings:
    return RouterSettings()
