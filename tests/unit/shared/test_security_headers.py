"""Every response of every service carries the security headers, and a problem's `instance`
is the path percent-encoded, never echoed raw (the review: no `nosniff` outside the console,
and `GET :8002/%3Cscript%3E…` answered `"instance": "/<script>…"`)."""

from collections.abc import AsyncIterator
from importlib import import_module
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.runtime.registry import registered_services
from shared.web.headers import SECURITY_HEADERS

SERVICES = list(registered_services())


def service_app(name: str, tmp_path: Path) -> FastAPI:
    registration = registered_services()[name]
    module, function = registration.app_factory.split(":")
    settings = registration.settings_class(environment="test", data_dir=tmp_path)
    app: FastAPI = getattr(import_module(module), function)(settings)
    return app


@pytest.fixture(params=SERVICES)
async def http(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service_app(request.param, tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


async def test_every_answer_has_the_security_headers(http: httpx.AsyncClient) -> None:
    answers = [
        await http.get("/healthz"),
        await http.get("/nowhere"),
        await http.request("BREW", "/healthz"),
        await http.post("/v1/anything", content=b"x", headers={"content-type": "text/plain"}),
        await http.post(
            "/v1/anything", content=b"x" * 70_000, headers={"content-type": "application/json"}
        ),
        await http.get("/v1/x%00"),
    ]
    assert [a.status_code for a in answers] == [200, 404, 405, 415, 413, 422]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)


async def test_a_problem_never_echoes_the_path_raw(http: httpx.AsyncClient) -> None:
    for path in ("/%3Cscript%3Ealert(1)%3C/script%3E", "/v1/%3Cb%3E%00"):
        problem = await http.get(path)
        assert problem.status_code in (404, 422)
        assert "<" not in problem.text
        assert "%3C" in problem.json()["instance"]
