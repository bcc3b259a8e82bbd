"""Publisher's configuration (environment variables)."""

from pydantic import Field

from shared.settings import CommonSettings


class PublisherSettings(CommonSettings):
    service_name: str = "publisher"
    status_page_title: str = Field(default="Service status", min_length=1, max_length=200)
    status_page_incidents: int = Field(default=50, ge=1, le=1000)


def get_settings() -> PublisherSettings:
    return PublisherSettings()
