"""FastAPI dependency aliases for ingest's routes."""

from typing import Annotated

from fastapi import Depends, Request

from services.ingest.settings import IngestSettings
from shared.auth import Principal, Role
from shared.deps import RuntimeDep
from shared.web import require_role


def get_ingest_settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[IngestSettings, Depends(get_ingest_settings)]
OperatorDep = Annotated[Principal, Depends(require_role(Role.OPERATOR))]

__all__ = ["OperatorDep", "RuntimeDep", "SettingsDep"]
