"""The router's draft routes over ASGI on a real database: who may decide, the four-eyes
refusal as a problem document, overdue drafts listed first, escalations on the timeline."""

import json
from base64 import urlsafe_b64encode
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.router.escalation import escalate
from services.router.main import create_app
from services.router.models import Base, TimelineEntry
from services.router.settings import RouterSettings
from shared.contract.events import Severity
from shared.runtime.database import Database
from shared.runtime.service import Runtime
from shared.web.auth import TokenStore, generate_dev_tokens
from tests.unit.router.approval_harness import Clock, deliver, pending, raised, router_context

DECISIONS = [
    ("PATCH", "", {"channel_id": "status", "text": "Trains are held."}),
    ("POST", "/approve", {}),
    ("POST", "/reject", {"reason": "not yet"}),
]


class Api:
    """The router app as its lifespan wires it, minus Kafka, with a clock the test moves."""

    def __init__(
        self, client: httpx.AsyncClient, db: Database, clock: Clock, tokens: dict[str, str]
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.ctx = router_context(clock)
        self.tokens = tokens

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    settings = RouterSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        topic_prefix="t",
        config_dir=tmp_path,
    )
    tokens = generate_dev_tokens(tmp_path)
    runtime = Runtime(settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    app = create_app(settings)
    clock = Clock()
    app.state.settings = settings
    app.state.tokens = TokenStore.from_file(settings.resolved_tokens_file())
    app.state.runtime = runtime
    app.state.context = router_context(clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        yield Api(client, runtime.database, clock, tokens)
    await runtime.database.dispose()


@pytest.mark.parametrize(("method", "path", "body"), DECISIONS)
@pytest.mark.parametrize("role", ["operator", "marketing"])
async def test_only_duty_managers_and_admins_decide_on_drafts(
    api: Api, method: str, path: str, body: dict[str, str], role: str
) -> None:
    await deliver(api.ctx, api.db, raised("inc_1", Severity.SEV3))
    draft = await pending(api.db, "inc_1")
    url = f"/v1/drafts/{draft.id}{path}"
    response = await api.client.request(method, url, json=body, headers=api.auth(role))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        f"dev-{role} ({role}) may not do this; needs admin, duty_manager."
    )
    anonymous = await api.client.request(method, url, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (await pending(api.db, "inc_1")).id == draft.id  # untouched
    allowed = await api.client.request(method, url, json=body, headers=api.auth("duty_manager"))
    assert allowed.status_code == 200, allowed.text
    after = {"": "pending", "/approve": "approved", "/reject": "rejected"}[path]
    assert allowed.json()["state"] == after


async def test_the_four_eyes_refusal_is_a_problem_naming_who_and_why(api: Api) -> None:
    await deliver(api.ctx, api.db, raised("inc_2", Severity.SEV1, by="dev-duty_manager"))
    draft = await pending(api.db, "inc_2")
    url = f"/v1/drafts/{draft.id}/approve"
    refused = await api.client.post(url, headers=api.auth("duty_manager"))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "https://planb.dev/problems/four-eyes-rule"
    assert problem["detail"] == (
        "four-eyes rule for sev1: dev-duty_manager raised this incident; "
        "another duty manager must approve."
    )
    assert problem["authors"] == ["dev-duty_manager"]
    approved = await api.client.post(url, headers=api.auth("admin"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["decided_by"] == "dev-admin"


async def test_overdue_drafts_come_first_with_their_age_and_escalation_on_the_timeline(
    api: Api,
) -> None:
    await deliver(api.ctx, api.db, raised("inc_old", Severity.SEV4))  # 60 minutes
    api.clock.advance(minutes=1)
    await deliver(api.ctx, api.db, raised("inc_new", Severity.SEV1))  # 5 minutes
    old, new = await pending(api.db, "inc_old"), await pending(api.db, "inc_new")
    listed = await api.client.get("/v1/drafts?state=pending", headers=api.auth("operator"))
    assert [d["id"] for d in listed.json()] == [old.id, new.id]  # oldest first
    assert [d["overdue"] for d in listed.json()] == [False, False]

    api.clock.set(new.created_at + timedelta(minutes=6))
    await escalate(api.ctx, api.db)
    listed = await api.client.get("/v1/drafts?state=pending", headers=api.auth("operator"))
    body = listed.json()
    assert [(d["id"], d["overdue"]) for d in body] == [(new.id, True), (old.id, False)]
    assert body[0]["age_seconds"] == 360
    assert body[0]["overdue_at"] is not None
    assert body[0]["escalated_at"] is not None
    assert body[0]["holding"] is False
    assert body[1]["age_seconds"] == int((api.clock.now - old.created_at).total_seconds())

    detail = await api.client.get("/v1/incidents/inc_new", headers=api.auth("duty_manager"))
    entries = [(e["kind"], e["actor"]) for e in detail.json()["timeline"]]
    assert entries[-1] == ("escalated", "router")
    assert detail.json()["timeline"][-1]["text"].startswith(f"Draft {new.id} has waited 6 min")


async def test_a_holding_draft_is_flagged_in_the_incident_view(api: Api) -> None:
    await deliver(api.ctx, api.db, raised("inc_3", Severity.SEV3, every=15))
    api.clock.advance(minutes=16)
    await escalate(api.ctx, api.db)
    detail = (await api.client.get("/v1/incidents/inc_3", headers=api.auth("operator"))).json()
    assert [(d["state"], d["holding"]) for d in detail["drafts"]] == [
        ("superseded", False),
        ("pending", True),
    ]
    assert [e["kind"] for e in detail["timeline"]][-2:] == ["drafted", "holding"]


PAST_9999_IN_UTC = "9999-12-31T23:59:59-14:00"


@pytest.mark.parametrize(
    ("method", "url", "body", "role", "field"),
    [
        (
            "POST",
            "/v1/marketing/posts",
            {"channel_id": "promo", "text": "Sale", "publish_at": PAST_9999_IN_UTC},
            "marketing",
            "body.publish_at",
        ),
        ("GET", "/v1/marketing/posts", {"since": PAST_9999_IN_UTC}, "marketing", "query.since"),
        (
            "GET",
            "/v1/marketing/posts",
            {"until": "2026-11-22T10:00:00"},
            "marketing",
            "query.until",
        ),
        (
            "POST",
            "/v1/marketing/resume",
            {
                "all_posts": {
                    "action": "reschedule",
                    "at": "9999-12-31T23:00Z",
                    "spread_minutes": 90,
                }
            },
            "duty_manager",
            "body.all_posts",
        ),
    ],
)
async def test_times_past_year_9999_in_utc_or_without_offset_are_a_422(
    api: Api, method: str, url: str, body: dict[str, object], role: str, field: str
) -> None:
    """Found by the API fuzz test: 500s (OverflowError, or a naive datetime compared with
    stored UTC ones); the reschedule, as soon as a channel had held posts to spread."""
    if method == "GET":
        response = await api.client.get(url, params=body, headers=api.auth(role))
    else:
        response = await api.client.post(url, json=body, headers=api.auth(role))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_nul_character_in_a_text_or_an_id_is_a_422(api: Api) -> None:
    """Found by the API fuzz test: 500s on PostgreSQL, which cannot store U+0000."""
    await deliver(api.ctx, api.db, raised("inc_3", Severity.SEV3))
    draft = await pending(api.db, "inc_3")
    edit = {"channel_id": "status", "text": "Trains\x00 are held."}
    refused = [
        await api.client.patch(f"/v1/drafts/{draft.id}", json=edit, headers=api.auth("admin")),
        await api.client.get("/v1/marketing/posts/mkt%00", headers=api.auth("admin")),
        await api.client.get("/v1/drafts?incident_id=inc_3%00", headers=api.auth("admin")),
    ]
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert {r.json()["title"] for r in refused} == {"NUL character"}
    assert (await pending(api.db, "inc_3")).id == draft.id  # untouched


async def test_control_characters_in_an_edited_text_are_not_published(api: Api) -> None:
    """Found by the security review: a form feed, an ANSI escape and U+FFFE reached /status."""
    await deliver(api.ctx, api.db, raised("inc_4", Severity.SEV3))
    draft = await pending(api.db, "inc_4")
    edit = {"channel_id": "status", "text": "Trains\x0c \x1b[31mare held\ufffe.\r\nSorry."}
    answer = await api.client.patch(f"/v1/drafts/{draft.id}", json=edit, headers=api.auth("admin"))
    assert answer.status_code == 200, answer.text
    texts = {t["channel_id"]: t["text"] for t in answer.json()["texts"]}
    assert texts["status"] == "Trains are held.\nSorry."
    only_controls = {"channel_id": "status", "text": "\x0c\x1b[31m\ufffe"}
    refused = await api.client.patch(
        f"/v1/drafts/{draft.id}", json=only_controls, headers=api.auth("admin")
    )
    assert refused.status_code == 422  # nothing left to publish


async def every_page(api: Api, url: str, key: str) -> list[str]:
    """Follow `Link: rel=next` from `url` to the last page; the `key` of every item."""
    seen: list[str] = []
    while url:
        page = await api.client.get(url, headers=api.auth("operator"))
        assert page.status_code == 200, page.text
        seen += [item[key] for item in page.json()]
        url = page.links.get("next", {}).get("url", "")
    return seen


async def test_every_list_that_grows_is_paged_with_a_cap_and_a_cursor(api: Api) -> None:
    """The review: `GET /v1/drafts?limit=1` answered all 11 drafts, every text of each."""
    for n in range(11):
        await deliver(api.ctx, api.db, raised(f"inc_p{n:02}", Severity.SEV3))
    one = await api.client.get("/v1/drafts?limit=1", headers=api.auth("operator"))
    assert len(one.json()) == 1
    assert "cursor=" in one.headers["link"]
    everything = await api.client.get("/v1/drafts?limit=200", headers=api.auth("operator"))
    assert "link" not in everything.headers  # the last page says so
    in_order = [d["id"] for d in everything.json()]
    assert len(in_order) == 11
    assert await every_page(api, "/v1/drafts?limit=3", "id") == in_order
    incidents = await every_page(api, "/v1/incidents?limit=4", "id")
    assert sorted(incidents) == [f"inc_p{n:02}" for n in range(11)]
    too_many = await api.client.get("/v1/drafts?limit=201", headers=api.auth("operator"))
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    "key",
    [
        "nope",
        [["v", "0"], ["t", "2030-01-01T00:00:00+00:00"], ["v", "d1"]],  # a text for a number
        [["v", 2**70], ["t", "2030-01-01T00:00:00+00:00"], ["v", "d1"]],  # no database's int
        [["v", 0], ["v", "2030-01-01"], ["v", "d1"]],  # a text for a time
        [["v", 0], ["t", "2030-01-01T00:00:00"], ["v", "d1"]],  # a time without offset
        [["v", 0], ["t", "2030-01-01T00:00:00+00:00"], ["v", "d\u0000"]],  # a NUL
        [["v", 0], ["t", "2030-01-01T00:00:00+00:00"]],  # too short
        {"v": 0},
    ],
)
async def test_a_cursor_no_page_gave_out_is_a_400(api: Api, key: object) -> None:
    """Never a 500, on SQLite or PostgreSQL: a cursor is the client's to forge."""
    raw = json.dumps(key).encode() if not isinstance(key, str) else key.encode()
    cursor = urlsafe_b64encode(raw).decode()
    forged = await api.client.get(f"/v1/drafts?cursor={cursor}", headers=api.auth("operator"))
    assert forged.status_code == 400, forged.text
    assert forged.json()["title"] == "Invalid cursor"


async def test_an_incidents_lists_show_their_newest_hundred(api: Api) -> None:
    await deliver(api.ctx, api.db, raised("inc_long", Severity.SEV3))
    async with api.db.transaction() as session:
        session.add_all(
            TimelineEntry(incident_id="inc_long", kind="note", text=f"n{n}", at=api.clock())
            for n in range(120)
        )
    detail = (await api.client.get("/v1/incidents/inc_long", headers=api.auth("operator"))).json()
    assert len(detail["timeline"]) == 100
    assert detail["timeline"][-1]["text"] == "n119"  # the newest, in reading order
    assert detail["truncated"] == ["timeline"]
