"""FastAPI dependency aliases for ingest's routes: who may call, how often, with what key."""

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.ingest.alertmanager import AlertMapping
from services.ingest.intake import Intake
from services.ingest.ratelimit import RateLimiter
from services.ingest.settings import IngestSettings
from shared.web.auth import Principal, Role
from shared.web.ops import authenticate, check_role

_bearer = HTTPBearer(auto_error=False)
ALERTMANAGER = Principal.of("alertmanager", Role.OPERATOR)
_OPERATOR = (Role.OPERATOR,)


# Every dependency here is `async def`: FastAPI runs a plain `def` one in a worker thread, and
# those hops (five a request, through the shared sync auth helpers) cost more CPU than the
# rest of the request's routing. The shared helpers are called, not depended on, for that.


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def get_mapping(request: Request) -> AlertMapping:
    mapping: AlertMapping = request.app.state.alert_mapping
    return mapping


async def _operator(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """An operator or admin within their rate limit (401, 403, or 429 with Retry-After)."""
    principal = check_role(await authenticate(request, credentials), _OPERATOR)
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(principal.name)
    return principal


async def rate_limited_operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """An operator or admin within their rate limit (429 with Retry-After beyond it)."""
    return await _operator(request, credentials)


async def alertmanager_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Alertmanager's shared secret (`ALERTMANAGER_TOKEN`), or an operator's own token."""
    settings: IngestSettings = request.app.state.settings
    secret = settings.alertmanager_token
    if (
        credentials is not None
        and secret is not None
        and hmac.compare_digest(
            credentials.credentials.encode(), secret.get_secret_value().encode()
        )
    ):
        limiter: RateLimiter = request.app.state.alert_rate_limiter
        limiter.check(ALERTMANAGER.name)
        return ALERTMANAGER
    return await _operator(request, credentials)


IntakeDep = Annotated[Intake, Depends(get_intake)]
MappingDep = Annotated[AlertMapping, Depends(get_mapping)]
OperatorDep = Annotated[Principal, Depends(rate_limited_operator)]
AlertCallerDep = Annotated[Principal, Depends(alertmanager_caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry with the same key and body to get the first answer, no second event",
    ),
]
