"""How the router registers itself with Plan B's tools (pyproject's `planb.services`)."""

from pathlib import Path

from services.router.models import Base
from services.router.settings import RouterSettings, get_settings
from shared.runtime.registry import ServiceRegistration

SERVICE = ServiceRegistration(
    name="router",
    order=1,
    settings_class=RouterSettings,
    get_settings=get_settings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    app_factory="services.router.main:create_app",
    default_port=8001,
)
