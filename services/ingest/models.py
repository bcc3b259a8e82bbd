"""Ingest's own tables (the outbox itself is shared: `shared.db.OutboxEntry`)."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Ingest keeps nothing but its outbox for now."""
