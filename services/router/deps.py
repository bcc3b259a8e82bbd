"""FastAPI dependency aliases for the router's routes."""

from typing import Annotated

from fastapi import Depends, Request

from services.router.context import RouterContext
from shared.web.auth import Principal, Role
from shared.web.deps import AnyRoleDep, ReadSessionDep, WriteSessionDep
from shared.web.ops import require_role


def get_context(request: Request) -> RouterContext:
    ctx: RouterContext = request.app.state.context
    return ctx


ContextDep = Annotated[RouterContext, Depends(get_context)]
DutyManagerDep = Annotated[Principal, Depends(require_role(Role.DUTY_MANAGER))]
MarketingDep = Annotated[Principal, Depends(require_role(Role.MARKETING))]
MarketingOrDutyDep = Annotated[Principal, Depends(require_role(Role.MARKETING, Role.DUTY_MANAGER))]

__all__ = [
    "AnyRoleDep",
    "ContextDep",
    "DutyManagerDep",
    "MarketingDep",
    "MarketingOrDutyDep",
    "ReadSessionDep",
    "WriteSessionDep",
]
