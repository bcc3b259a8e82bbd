"""Auto-approval (`approval.auto_approve`) on a real database: the router approves the drafts
of the listed severities as it writes them, as actor `policy`, through the duty manager's own
approval path (publish requests staged, deliveries recorded, decision audited); never for a
severity under the four-eyes rule, which a policy file cannot even ask for."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.router.context import RouterContext
from services.router.models import Delivery
from services.router.policy import ApprovalPolicy, Policy, load_policy
from shared.contract.config_files import ConfigFileError
from shared.contract.events import PublishRequested, Severity, parse_event
from shared.runtime.database import Database, OutboxEntry
from tests.unit.router.approval_harness import (
    CHANNELS,
    Clock,
    audit_actions,
    deliver,
    drafts_of,
    raised,
    router_context,
    timeline_kinds,
    updated,
)


@pytest.fixture
def ctx() -> RouterContext:
    policy = Policy(approval=ApprovalPolicy(auto_approve=[Severity.SEV4]))
    return router_context(Clock(), policy)


async def publish_requests(db: Database, ctx: RouterContext) -> list[PublishRequested]:
    """What the router staged for the publisher, in order."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.topic == ctx.topics.outbound)
            .order_by(OutboxEntry.id)
        )
        events = [parse_event(row.value).data for row in rows]
    return [e for e in events if isinstance(e, PublishRequested)]


async def deliveries(db: Database, incident_id: str) -> list[tuple[str, str, str]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(Delivery)
            .where(Delivery.incident_id == incident_id)
            .order_by(Delivery.draft_id, Delivery.channel_id)
        )
        return [(row.draft_id or "", row.channel_id, row.state) for row in rows]


async def test_a_listed_severity_is_approved_for_every_channel_as_policy(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_1", Severity.SEV4, by="alice"))
    (draft,) = await drafts_of(db, "inc_1")
    assert (draft.state, draft.decided_by) == ("approved", "policy")
    assert await audit_actions(db, draft.id) == [("draft.approved", "policy")]
    assert await timeline_kinds(db, "inc_1") == ["raised", "drafted", "approved"]
    assert await deliveries(db, "inc_1") == [
        (draft.id, "masto", "requested"),
        (draft.id, "status", "requested"),
    ]
    requests = await publish_requests(db, ctx)
    assert sorted((r.channel_id, r.approved_by) for r in requests) == [
        ("masto", "policy"),
        ("status", "policy"),
    ]
    assert {r.incident.incident_id for r in requests if r.incident} == {"inc_1"}


async def test_every_follow_up_is_approved_too_and_none_supersedes_another(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_2", Severity.SEV4))
    await deliver(ctx, db, updated("inc_2"))
    drafts = await drafts_of(db, "inc_2")
    assert [(d.state, d.decided_by) for d in drafts] == [("approved", "policy")] * 2
    assert len(await publish_requests(db, ctx)) == 2 * len(CHANNELS)
    texts = [r.text for r in await publish_requests(db, ctx) if r.channel_id == "status"]
    assert "A signal failed at Central." in texts[1]


async def test_other_severities_still_wait_for_a_person(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_3", Severity.SEV3))
    (draft,) = await drafts_of(db, "inc_3")
    assert (draft.state, draft.decided_by) == ("pending", None)
    assert await publish_requests(db, ctx) == []
    assert await deliveries(db, "inc_3") == []


async def test_the_incidents_current_severity_decides(ctx: RouterContext, db: Database) -> None:
    """Raised as sev4 (approved by the policy), raised to sev3: the follow-up waits."""
    await deliver(ctx, db, raised("inc_4", Severity.SEV4))
    assert isinstance(ctx.clock, Clock)
    ctx.clock.advance(minutes=1)  # drafts are listed by creation time
    await deliver(ctx, db, updated("inc_4").model_copy(update={"severity": Severity.SEV3}))
    drafts = await drafts_of(db, "inc_4")
    assert [d.state for d in drafts] == ["approved", "pending"]


async def test_by_default_nothing_is_approved_by_the_policy(db: Database) -> None:
    assert Policy().approval.auto_approve == []
    assert load_policy(Path("config/policy.yaml")).approval.auto_approve == []
    ctx = router_context(Clock())
    await deliver(ctx, db, raised("inc_5", Severity.SEV4))
    assert [d.state for d in await drafts_of(db, "inc_5")] == ["pending"]


def test_a_severity_under_four_eyes_cannot_be_approved_by_the_policy() -> None:
    with pytest.raises(ValidationError, match="auto_approve lists sev2, which four_eyes"):
        ApprovalPolicy(auto_approve=[Severity.SEV2, Severity.SEV4])
    relaxed = ApprovalPolicy(four_eyes=[Severity.SEV1], auto_approve=[Severity.SEV2])
    assert relaxed.approves_itself(Severity.SEV2)
    assert not relaxed.approves_itself(Severity.SEV1)


def test_a_policy_file_asking_for_it_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("approval:\n  four_eyes: [sev1, sev2]\n  auto_approve: [sev1, sev3]\n")
    with pytest.raises(
        ConfigFileError, match=r"policy.yaml: approval: .*auto_approve lists sev1, which four_eyes"
    ):
        load_policy(path)


async def test_a_sev1_lowered_to_a_listed_severity_still_needs_a_person(
    ctx: RouterContext, db: Database
) -> None:
    """Else one person could raise a sev1, lower it to sev4 and have their words go out with
    nobody else reading them: the policy approves by the highest severity the incident had."""
    await deliver(ctx, db, raised("inc_was1", Severity.SEV1, by="root"))
    await deliver(ctx, db, updated("inc_was1", by="root", severity=Severity.SEV4))
    assert sorted(d.state for d in await drafts_of(db, "inc_was1")) == ["pending", "superseded"]
    assert await publish_requests(db, ctx) == []
