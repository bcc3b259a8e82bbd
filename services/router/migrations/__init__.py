"""Alembic history of the router's tables (`python -m shared.runtime.migrations --help`)."""
