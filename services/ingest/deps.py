"""FastAPI dependency aliases for ingest's routes."""

from typing import Annotated

from fastapi import Depends, Request

from services.ingest.settings import IngestSettings
from shared.auth import Principal, Role
from shared.runtime import Runtime
from shared.web import require_role


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_ingest_settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[IngestSettings, Depends(get_ingest_settings)]
OperatorDep = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
