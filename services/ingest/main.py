"""Ingest: the incident intake API for operators and monitoring (port 8000).

Run with `uvicorn --factory services.ingest.main:create_app`.
"""

from fastapi import FastAPI

from services.ingest.api import router
from services.ingest.models import Base
from services.ingest.settings import IngestSettings, get_settings
from shared.app import create_service_app


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Plan B ingest",
        summary="Raise and update incidents; Alertmanager webhook.",
        metadata=Base.metadata,
        routers=[router],
    )
