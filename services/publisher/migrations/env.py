"""Alembic environment of the publisher: its tables plus the shared inbox and outbox."""

from services.publisher.models import Base
from shared.runtime.migrations import run_env

run_env(Base.metadata)
