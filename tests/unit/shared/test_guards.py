"""The request guards every service installs: a NUL character (U+0000) anywhere in a request
is a 422 problem before any route runs (PostgreSQL cannot store one: those were 500s there,
found by the API fuzz test), and everything else reaches the route unchanged."""

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from shared.web.ops import install_common


class Note(BaseModel):
    text: str


def echo_app() -> FastAPI:
    app = FastAPI()
    install_common(app, "test", body_limits={"/notes": 1024}, form_prefixes=("/console",))

    @app.post("/notes")
    async def note(body: Note) -> dict[str, str]:
        return {"text": body.text}

    @app.get("/notes/{note_id}")
    async def get_note(note_id: str, q: str = "") -> dict[str, str]:
        return {"id": note_id, "q": q}

    @app.post("/console/notes")
    async def form_note(request: Request) -> dict[str, str]:
        return {"text": parse_qs((await request.body()).decode())["text"][0]}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=echo_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "url", "content", "headers"),
    [
        ("GET", "/notes/a%00b", None, {}),
        ("GET", "/notes/a?q=x%00y", None, {}),
        ("POST", "/notes", json.dumps({"text": "a\x00b"}).encode(), JSON),
        ("POST", "/notes", json.dumps({"te\x00xt": "a"}).encode(), JSON),
        ("POST", "/notes", b'{"text": "\\\\\\u0000"}', JSON),  # an escaped \ before the NUL
        (
            "POST",
            "/console/notes",
            b"text=a%00b",
            {"content-type": "application/x-www-form-urlencoded"},
        ),
    ],
)
async def test_a_nul_anywhere_is_a_422_problem(
    client: httpx.AsyncClient, method: str, url: str, content: bytes | None, headers: dict[str, str]
) -> None:
    response = await client.request(method, url, content=content, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "NUL character"
    assert "U+0000" in problem["detail"]


async def test_other_requests_reach_the_route_unchanged(client: httpx.AsyncClient) -> None:
    text = "a\\u0000b, \x01 ü"  # a backslash, then the letters u0000: no NUL
    assert (await client.post("/notes", json={"text": text})).json() == {"text": text}
    assert (await client.get("/notes/a%2500", params={"q": "100%"})).json() == {
        "id": "a%00",
        "q": "100%",
    }
    form = await client.post("/console/notes", data={"text": "50%0"})
    assert form.json() == {"text": "50%0"}


async def test_a_body_over_the_limit_is_still_a_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/notes", json={"text": "x" * 2000})
    assert response.status_code == 413
