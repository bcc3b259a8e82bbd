"""How the ingest registers itself with Plan B's tools (pyproject's `planb.services`)."""

from pathlib import Path

from services.ingest.models import Base
from services.ingest.settings import IngestSettings, get_settings
from shared.runtime.registry import ServiceRegistration

SERVICE = ServiceRegistration(
    name="ingest",
    order=0,
    settings_class=IngestSettings,
    get_settings=get_settings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    app_factory="services.ingest.main:create_app",
    default_port=8000,
)
