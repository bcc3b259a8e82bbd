"""Prometheus labels take a bounded set of values whatever a client sends: a request with an
invented method or to an invented path adds no series (found by the security review: five
invented methods to /healthz made five new series, for anyone, without a token)."""

import httpx
from fastapi import FastAPI, HTTPException

from shared.web.ops import install_common


async def series(http: httpx.AsyncClient) -> list[str]:
    text = (await http.get("/metrics")).text
    return [line for line in text.splitlines() if line.startswith("planb_http_requests_total")]


async def test_invented_methods_and_paths_add_no_series() -> None:
    app = FastAPI()
    install_common(app, "test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for n in range(5):
            await http.request(f"RVW3EB6C44{n}", "/healthz")
            await http.get(f"/made-up-{n}")
        await http.get("/healthz")
        lines = await series(http)
    assert not [line for line in lines if "RVW3EB6C44" in line or "made-up" in line]
    labels = [line.split("{", 1)[1].split("}", 1)[0] for line in lines]
    assert 'method="other",route="/healthz",service="test",status="405"' in labels
    assert 'method="GET",route="unmatched",service="test",status="404"' in labels
    assert 'method="GET",route="/healthz",service="test",status="200"' in labels


async def test_the_registry_has_the_process_collectors_and_a_redirect_is_no_problem() -> None:
    app = FastAPI()
    install_common(app, "test")

    @app.get("/sign-in-first")
    async def sign_in_first() -> None:
        raise HTTPException(303, "Sign in first.", headers={"Location": "/console/sign-in"})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/sign-in-first")).status_code == 303
        await http.get("/made-up")
        text = (await http.get("/metrics")).text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert {"python_info", "python_gc_collections_total"} <= names
    problems = [line for line in text.splitlines() if line.startswith("planb_http_problems_total")]
    assert any('status="404"' in line for line in problems)
    assert not any('status="303"' in line for line in problems)
