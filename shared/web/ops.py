"""What every service's FastAPI app has: auth dependencies, /healthz, /readyz, /metrics."""

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.runtime.health import ReadinessCheck, evaluate
from shared.runtime.metrics import process_registry
from shared.web.accounts import Accounts
from shared.web.auth import Principal, Role, TokenStore
from shared.web.guards import BodyGuard, NulGuard
from shared.web.headers import SecurityHeaders
from shared.web.problems import Problem

_bearer = HTTPBearer(auto_error=False)


def get_token_store(request: Request) -> TokenStore:
    store: TokenStore = request.app.state.tokens
    return store


async def identify(request: Request, token: str) -> Principal | None:
    """Whose token this is: the tokens file's (in memory), else a personal token's, read
    from the accounts database on every request so a revocation holds at once."""
    found = get_token_store(request).authenticate(token)
    if found is not None:
        return found
    accounts: Accounts | None = getattr(request.app.state, "accounts", None)
    return None if accounts is None else await accounts.authenticate(token)


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, from `Authorization: Bearer <token>`; 401 without a known token."""
    if credentials is None:
        raise Problem(
            401,
            "Unauthorized",
            "Send `Authorization: Bearer <token>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await identify(request, credentials.credentials)
    if principal is None:
        raise Problem(
            401,
            "Unauthorized",
            "The bearer token is not known, has expired or was revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(request, credentials)


def check_role(principal: Principal, roles: tuple[Role, ...]) -> Principal:
    """`principal` if they have one of `roles` (or admin); 403 saying who and what for."""
    if not principal.has_any(roles):
        allowed = ", ".join(sorted({r.value for r in roles} | {Role.ADMIN.value}))
        raise Problem(
            403,
            "Forbidden",
            f"{principal.name} ({principal.roles_text}) may not do this; needs {allowed}.",
        )
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting `roles` (and admin); 403 for anyone else."""

    async def _check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        return check_role(principal, roles)

    return _check


class HttpMetrics:
    """Per-app registry (several apps in one test process don't collide), with the
    process's `process_*` and `python_*` collectors in it."""

    def __init__(self, service: str) -> None:
        self.registry = process_registry()
        self.requests = Counter(
            "planb_http_requests",
            "HTTP requests by route and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "planb_http_request_seconds",
            "HTTP request latency",
            ["service", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.problems = Counter(
            "planb_http_problems",
            "Requests answered with a problem document (4xx, 5xx), by status and problem type",
            ["service", "status", "type"],
            registry=self.registry,
        )
        self.service = service


METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The method as a metric label: a method HTTP defines, else "other". The raw method is
    whatever the client sent, so labelling by it let anyone add series without bound."""
    return method if method in METHOD_LABELS else "other"


class MetricsMiddleware:
    """Counts requests and their latency by route template (not raw path) and by a fixed set
    of methods: every label takes a bounded set of values, whatever a client sends."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(
                self.metrics.service, method_label(scope["method"]), template, str(status)
            ).inc()
            self.metrics.latency.labels(self.metrics.service, template).observe(
                time.perf_counter() - start
            )


def ops_router(
    checks: Callable[[Request], dict[str, ReadinessCheck]],
    *,
    failures: Callable[[Request], dict[str, str]],
    details: bool = True,
) -> APIRouter:
    """/healthz, /readyz and /metrics; `checks` finds the app's readiness checks, `failures`
    its loops that crashed too often to be restarted. Without `details` (operations served on
    a port of their own) no /metrics, /readyz answers its status alone (the checks name
    internal addresses) and /healthz names a failed loop without its error (which may quote
    SQL and its parameters)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive and every loop of it running")
    async def healthz(request: Request) -> JSONResponse:
        failed = failures(request)
        if not failed:
            return JSONResponse({"status": "ok"})
        named = failed if details else sorted(failed)
        return JSONResponse({"status": "failing", "failed": named}, status_code=503)

    @router.get("/readyz", summary="Kafka and the database are reachable")
    async def readyz(request: Request) -> JSONResponse:
        state, results = await evaluate(checks(request))
        body = {"status": state, "checks": results} if details else {"status": state}
        return JSONResponse(body, status_code=503 if state == "unavailable" else 200)

    if not details:
        return router

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        registry: CollectorRegistry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _loop_failures(request: Request) -> dict[str, str]:
    """The runtime's failed loops; none before it exists (an app without a lifespan)."""
    runtime = getattr(request.app.state, "runtime", None)
    return {} if runtime is None else runtime.liveness()


def install_common(
    app: FastAPI,
    service: str,
    *,
    body_limits: dict[str, int] | None = None,
    form_prefixes: tuple[str, ...] = (),
    ops_elsewhere: bool = False,
) -> HttpMetrics:
    """Metrics middleware and the operations routes on `app`; paths under `form_prefixes`
    take HTML form bodies as well as JSON."""
    from shared.web.problems import install_problem_handlers

    metrics = HttpMetrics(service)
    app.state.metrics = metrics
    app.add_middleware(NulGuard)  # inside BodyGuard: it reads bodies already bounded
    app.add_middleware(BodyGuard, per_path=body_limits, form_prefixes=form_prefixes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeaders)  # outermost: on guards' refusals and errors too
    install_problem_handlers(app)
    readiness = ops_router(
        lambda request: request.app.state.runtime.readiness(),
        failures=_loop_failures,
        details=not ops_elsewhere,
    )
    app.include_router(readiness)
    return metrics
