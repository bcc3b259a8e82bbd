"""Alembic history of the ingest's tables (`python -m shared.runtime.migrations --help`)."""
