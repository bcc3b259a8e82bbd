"""Alembic environment of the ingest: its tables plus the shared inbox and outbox."""

from services.ingest.models import Base
from shared.runtime.migrations import run_env

run_env(Base.metadata)
