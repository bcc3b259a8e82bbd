"""Alembic environment of the router: its tables plus the shared inbox and outbox."""

from services.router.models import Base
from shared.runtime.migrations import run_env

run_env(Base.metadata)
