"""The domain's refusals become RFC 9457 problems at the edge, in one place: each kind its
status, the rule's title as the problem type, the sentence as detail and the facts beside."""

import httpx
import pytest
from fastapi import FastAPI

from shared.contract.errors import Conflict, DomainError, NotAllowed, NotFound, Rejected
from shared.web.problems import PROBLEM_JSON, TYPE_BASE, install_problem_handlers


def refusing_app(error: DomainError) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/drafts/d1/approve")
    async def approve() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("Draft not found", "No draft d1."), 404),
        (NotAllowed("Four-eyes rule", "alice raised this incident.", authors=["alice"]), 403),
        (Conflict("Draft not pending", "Draft d1 is approved.", state="approved"), 409),
        (Rejected("Unknown channel", "Draft d1 has no text for: mars.", channels=["x"]), 422),
        (DomainError("Something else", "A refusal of no known kind."), 422),
    ],
)
async def test_each_kind_of_refusal_is_its_problem(error: DomainError, status: int) -> None:
    transport = httpx.ASGITransport(app=refusing_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post("/drafts/d1/approve")
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json() == {
        "type": TYPE_BASE + error.title.lower().replace(" ", "-"),
        "title": error.title,
        "status": status,
        "detail": error.detail,
        "instance": "/drafts/d1/approve",
        **error.facts,
    }
