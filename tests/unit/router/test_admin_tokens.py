"""Personal tokens through the admin API on a real database: issued once, listed without
secrets, rotated, revoked (401 at once), expired, and each change in the audit log."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.router.models import AuditEntry, Base
from services.router.settings import RouterSettings
from shared.contract.events import Severity, utcnow
from shared.runtime.database import Database
from shared.runtime.service import Runtime
from shared.web import tokens
from shared.web.accounts import Accounts
from shared.web.auth import Role, generate_dev_tokens
from tests.unit.router.approval_harness import (
    Clock,
    deliver,
    pending,
    raised,
    router_context,
    wired_app,
)


class Admin:
    def __init__(
        self,
        client: httpx.AsyncClient,
        db: Database,
        dev: dict[str, str],
        clock: Clock,
        accounts: Accounts,
    ) -> None:
        self.accounts = accounts
        self.clock = clock
        self.client = client
        self.db = db
        self.dev = dev

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(self.dev["admin"])

    async def audit(self) -> list[tuple[str, str, str]]:
        async with self.db.reader() as session:
            rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        return [(r.actor, r.action, r.entity_id) for r in rows if r.entity_type == "token"]


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Admin]:
    settings = RouterSettings(
        environment="test", data_dir=tmp_path, database_url=database_url, config_dir=tmp_path
    )
    dev = generate_dev_tokens(tmp_path)
    runtime = Runtime(settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    clock = Clock()
    app = wired_app(settings, runtime, clock)
    accounts = app.state.accounts
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        yield Admin(client, runtime.database, dev, clock, accounts)
    await runtime.database.dispose()


async def test_a_token_is_shown_once_listed_without_secret_and_names_the_person(
    api: Admin,
) -> None:
    issued = await api.client.post(
        "/v1/admin/tokens",
        json={"name": "alice", "roles": ["duty_manager"], "expires_in": "90d"},
        headers=api.admin,
    )
    assert issued.status_code == 201, issued.text
    secret = issued.json()["token"]
    assert issued.json()["info"]["roles"] == ["duty_manager"]

    drafts = await api.client.get("/v1/drafts", headers=api.auth(secret))
    assert drafts.status_code == 200, drafts.text
    assert await api.accounts.flush() == 1  # the service's loop does this every minute
    listed = await api.client.get("/v1/admin/tokens", headers=api.admin)
    assert listed.status_code == 200
    (alice,) = listed.json()
    assert alice["name"] == "alice"
    assert alice["state"] == "active"
    assert alice["last_used_at"] is not None
    assert secret not in listed.text
    assert "sha256" not in listed.text
    assert await api.audit() == [("dev-admin", "token issued", "alice")]

    twice = await api.client.post(
        "/v1/admin/tokens", json={"name": "alice", "roles": ["operator"]}, headers=api.admin
    )
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/token-exists")


async def test_rotation_and_revocation_end_the_old_secret_at_once(api: Admin) -> None:
    first = await api.client.post(
        "/v1/admin/tokens", json={"name": "bob", "roles": ["operator"]}, headers=api.admin
    )
    old = first.json()["token"]
    rotated = await api.client.post("/v1/admin/tokens/bob/rotate", headers=api.admin)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["token"]
    assert (await api.client.get("/v1/drafts", headers=api.auth(old))).status_code == 401
    assert (await api.client.get("/v1/drafts", headers=api.auth(new))).status_code == 200

    revoked = await api.client.delete("/v1/admin/tokens/bob", headers=api.admin)
    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    refused = await api.client.get("/v1/drafts", headers=api.auth(new))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The bearer token is not known, has expired or was revoked."
    again = await api.client.delete("/v1/admin/tokens/bob", headers=api.admin)
    assert again.status_code == 404
    assert await api.audit() == [
        ("dev-admin", "token issued", "bob"),
        ("dev-admin", "token rotated", "bob"),
        ("dev-admin", "token revoked", "bob"),
    ]
    everything = await api.client.get("/v1/admin/tokens?all=true", headers=api.admin)
    assert [t["state"] for t in everything.json()] == ["revoked", "revoked"]


async def test_only_an_admin_manages_tokens_and_bad_input_is_a_problem(api: Admin) -> None:
    body = {"name": "carol", "roles": ["marketing"]}
    duty = await api.client.post(
        "/v1/admin/tokens", json=body, headers=api.auth(api.dev["duty_manager"])
    )
    assert duty.status_code == 403
    assert duty.json()["detail"] == (
        "dev-duty_manager (duty manager) may not do this; needs admin."
    )
    for bad in (
        {"name": "carol", "roles": []},
        {"name": "carol", "roles": ["pope"]},
        {"name": "../x", "roles": ["operator"]},
        {"name": "carol", "roles": ["operator"], "expires_in": "soon"},
    ):
        refused = await api.client.post("/v1/admin/tokens", json=bad, headers=api.admin)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"


async def test_an_expired_token_is_refused(api: Admin) -> None:
    now = utcnow()
    async with api.db.transaction() as session:
        issued = await tokens.issue(
            session,
            name="dora",
            roles=[Role.OPERATOR],
            expires_at=now + timedelta(milliseconds=1),
            by="test",
            now=now - timedelta(hours=1),
        )
    assert (await api.client.get("/v1/drafts", headers=api.auth(issued.token))).status_code == 401
    api.clock.advance(seconds=1)  # the API's clock, which lists it
    listed = await api.client.get("/v1/admin/tokens", headers=api.admin)
    assert [t["state"] for t in listed.json()] == ["expired"]


async def test_the_four_eyes_rule_and_the_audit_log_name_the_person(api: Admin) -> None:
    people = {}
    for name in ("dana", "sam"):
        issued = await api.client.post(
            "/v1/admin/tokens", json={"name": name, "roles": ["duty_manager"]}, headers=api.admin
        )
        people[name] = api.auth(issued.json()["token"])
    ctx = router_context(api.clock)
    await deliver(ctx, api.db, raised("inc_p", Severity.SEV1, by="olu"))
    draft = await pending(api.db, "inc_p")
    edit = {"channel_id": "status", "text": "Trains are held at Central."}
    edited = await api.client.patch(f"/v1/drafts/{draft.id}", json=edit, headers=people["dana"])
    assert edited.status_code == 200, edited.text

    own = await api.client.post(f"/v1/drafts/{draft.id}/approve", headers=people["dana"])
    assert own.status_code == 403
    assert own.json()["detail"] == (
        "four-eyes rule for sev1: dana edited the status text; another duty manager must approve."
    )
    other = await api.client.post(f"/v1/drafts/{draft.id}/approve", headers=people["sam"])
    assert other.status_code == 200, other.text
    assert other.json()["decided_by"] == "sam"
    async with api.db.reader() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    deeds = {(r.actor, r.action) for r in rows if r.entity_type != "token"}
    assert {actor for actor, _ in deeds} >= {"dana", "sam"}
