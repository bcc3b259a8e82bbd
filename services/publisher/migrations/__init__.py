"""Alembic history of the publisher's tables (`python -m shared.runtime.migrations --help`)."""
