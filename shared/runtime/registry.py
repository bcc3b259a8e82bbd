"""Services register themselves: each declares a `ServiceRegistration` and names it under the
`planb.services` entry-point group in pyproject.toml, so the tools that work on every
service (migrations, the configuration reference, `planb run`) find them without `shared`
importing `services`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from sqlalchemy import MetaData

from shared.runtime.settings import CommonSettings

ENTRY_POINT_GROUP = "planb.services"


@dataclass(frozen=True)
class ServiceRegistration:
    """What the tools need to know of a service."""

    name: str
    order: int  # where it goes in listings and start-up (ingest, router, publisher)
    settings_class: type[CommonSettings]
    get_settings: Callable[[], CommonSettings]
    metadata: MetaData  # its own tables (the shared inbox and outbox are added by migrations)
    migrations_dir: Path  # its Alembic history
    app_factory: str  # `module:function` for `uvicorn --factory`
    default_port: int


class UnknownService(LookupError):
    """A service name that no installed package registered."""


def registered_services() -> dict[str, ServiceRegistration]:
    """Every registered service by name, in start-up order."""
    found = [entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)]
    for registration in found:
        if not isinstance(registration, ServiceRegistration):
            raise TypeError(f"{registration!r} under {ENTRY_POINT_GROUP} is not a registration")
    return {r.name: r for r in sorted(found, key=lambda r: (r.order, r.name))}


def service(name: str) -> ServiceRegistration:
    """One service's registration; `UnknownService` names the ones that exist."""
    services = registered_services()
    if name not in services:
        known = ", ".join(services) or "none (is the package installed? `make` installs it)"
        raise UnknownService(f"unknown service {name!r}; one of {known}")
    return services[name]
