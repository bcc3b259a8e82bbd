"""How the publisher registers itself with Plan B's tools (pyproject's `planb.services`)."""

from pathlib import Path

from services.publisher.models import Base
from services.publisher.settings import PublisherSettings, get_settings
from shared.runtime.registry import ServiceRegistration

SERVICE = ServiceRegistration(
    name="publisher",
    order=2,
    settings_class=PublisherSettings,
    get_settings=get_settings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    app_factory="services.publisher.main:create_app",
    default_port=8002,
)
