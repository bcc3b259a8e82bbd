"""RFC 9457 problem details for every error a service returns.

Validation errors name each offending field and the rule it broke; the domain's refusals
(`shared.contract.errors`) are mapped to their status here, in one place; unexpected errors
are 500s that reveal nothing internal (and are logged), so input can never produce one
silently. `Problem` is for the HTTP edge itself (routes, guards, rate limits).
"""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contract.errors import Conflict, DomainError, NotAllowed, NotFound, Rejected

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://planb.dev/problems/"
DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    NotAllowed: 403,
    Conflict: 409,
    Rejected: 422,
}


class Problem(Exception):
    """Raise to answer with a problem document: `Problem(409, "draft superseded", "...")`."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or TYPE_BASE + title.lower().replace(" ", "-")
        self.headers = headers
        self.extensions = extensions


def instance_of(path: str) -> str:
    """The problem's `instance`: the path percent-encoded as in a URL, never echoed raw (a
    404 for `/<script>…` answered `"instance": "/<script>…"`)."""
    return quote(path, safe="/-._~!$&'()*+,;=:@")


def domain_status(error: DomainError) -> int:
    """The HTTP status of a domain refusal (422 for a kind this table does not know)."""
    for kind, status in DOMAIN_STATUS.items():
        if isinstance(error, kind):
            return status
    return 422


def problem_response(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = instance_of(request.url.path)
    body.update(extensions)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None and status >= 400:  # a redirect (the console's 303) is none
        metrics.problems.labels(metrics.service, str(status), type_.rsplit("/", 1)[-1]).inc()
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append({"field": ".".join(loc), "rule": err.get("type"), "message": err.get("msg")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Route FastAPI's, Starlette's and our own errors through one problem format."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request,
            status=exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            request,
            status=domain_status(exc),
            title=exc.title,
            detail=exc.detail,
            type_=TYPE_BASE + exc.slug,
            **exc.facts,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        json_error = any(e["rule"] == "json_invalid" for e in errors)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(
            request,
            status=400 if json_error else 422,
            title="Malformed JSON" if json_error else "Invalid request",
            detail=summary,
            type_=TYPE_BASE + ("malformed-json" if json_error else "validation"),
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        from http import HTTPStatus

        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(
            request,
            status=exc.status_code,
            title=title,
            detail=detail,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            title="Internal Server Error",
            detail="An unexpected error occurred; it was logged.",
        )
