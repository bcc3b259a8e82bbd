"""The four-eyes rule on a real database: for sev1/sev2 nobody approves their own words (the
incident's raiser, its last updater, the last editor of a text), another person must; and every
decision is audited with who and when."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.router import approvals
from services.router.context import RouterContext
from services.router.models import AuditEntry
from services.router.policy import ApprovalPolicy, Policy
from shared.contract.errors import NotAllowed
from shared.contract.events import AuditRecorded, Severity, parse_event
from shared.runtime.database import Database, OutboxEntry
from shared.web.auth import Principal, Role
from tests.unit.router.approval_harness import (
    Clock,
    audit_actions,
    deliver,
    pending,
    raised,
    router_context,
    updated,
)

ALICE = Principal.of("alice", Role.DUTY_MANAGER)
BOB = Principal.of("bob", Role.DUTY_MANAGER)
ROOT = Principal.of("root", Role.ADMIN)


@pytest.fixture
def ctx() -> RouterContext:
    return router_context(Clock())


async def approve(
    ctx: RouterContext, db: Database, draft_id: str, by: Principal, channels: list[str] | None
) -> str:
    async with db.transaction() as session:
        draft = await approvals.approve(
            ctx, session, draft_id=draft_id, channel_ids=channels, by=by
        )
        return draft.state


async def edit(
    ctx: RouterContext, db: Database, draft_id: str, channel: str, by: Principal
) -> None:
    async with db.transaction() as session:
        await approvals.edit_text(
            ctx, session, draft_id=draft_id, channel_id=channel, text="Trains are held.", by=by
        )


async def refusal(ctx: RouterContext, db: Database, draft_id: str, by: Principal) -> NotAllowed:
    with pytest.raises(NotAllowed) as caught:
        await approve(ctx, db, draft_id, by, None)
    return caught.value


async def test_the_raiser_of_a_sev1_cannot_approve_alone(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_1", Severity.SEV1, by="alice"))
    draft = await pending(db, "inc_1")
    problem = await refusal(ctx, db, draft.id, ALICE)
    assert problem.slug == "four-eyes-rule"
    assert problem.detail == (
        "four-eyes rule for sev1: alice raised this incident; another duty manager must approve."
    )
    assert problem.facts == {"severity": "sev1", "authors": ["alice"]}
    assert (await pending(db, "inc_1")).id == draft.id  # nothing changed
    assert await approve(ctx, db, draft.id, BOB, None) == "approved"
    assert ("draft.approved", "bob") in await audit_actions(db, draft.id)


async def test_whoever_edited_a_sev2_text_cannot_approve_it(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_2", Severity.SEV2, by="op"))
    draft = await pending(db, "inc_2")
    await edit(ctx, db, draft.id, "status", BOB)
    problem = await refusal(ctx, db, draft.id, BOB)
    assert problem.detail == (
        "four-eyes rule for sev2: bob edited the status text; another duty manager must approve."
    )
    assert problem.facts["authors"] == ["bob", "op"]
    assert await approve(ctx, db, draft.id, ALICE, None) == "approved"
    assert await audit_actions(db, draft.id) == [
        ("draft.edited", "bob"),
        ("draft.approved", "alice"),
    ]


async def test_an_editor_may_approve_only_texts_someone_else_wrote(
    ctx: RouterContext, db: Database
) -> None:
    """The rule is about the words that go out: bob's status text is not among them here."""
    await deliver(ctx, db, raised("inc_3", Severity.SEV2))
    draft = await pending(db, "inc_3")
    await edit(ctx, db, draft.id, "status", BOB)
    assert await approve(ctx, db, draft.id, BOB, ["masto"]) == "approved"


async def test_the_last_updater_cannot_approve_and_every_reason_is_named(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_4", Severity.SEV1, by="alice"))
    await deliver(ctx, db, updated("inc_4", by="alice"))
    draft = await pending(db, "inc_4")
    await edit(ctx, db, draft.id, "masto", ALICE)
    problem = await refusal(ctx, db, draft.id, ALICE)
    assert problem.detail == (
        "four-eyes rule for sev1: alice raised this incident, last updated this incident and "
        "edited the masto text; another duty manager must approve."
    )
    await deliver(ctx, db, updated("inc_4", by="bob"))
    draft = await pending(db, "inc_4")
    problem = await refusal(ctx, db, draft.id, BOB)
    assert problem.detail is not None
    assert "bob last updated this incident" in problem.detail


async def test_an_admin_is_bound_too(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_5", Severity.SEV2, by="root"))
    draft = await pending(db, "inc_5")
    problem = await refusal(ctx, db, draft.id, ROOT)
    assert problem.slug == "four-eyes-rule"
    assert await approve(ctx, db, draft.id, ALICE, None) == "approved"


async def test_a_sev3_raiser_may_approve_alone(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_6", Severity.SEV3, by="alice"))
    draft = await pending(db, "inc_6")
    await edit(ctx, db, draft.id, "status", ALICE)
    assert await approve(ctx, db, draft.id, ALICE, None) == "approved"


async def test_with_the_rule_turned_off_the_raiser_may_approve_a_sev1(db: Database) -> None:
    ctx = router_context(Clock(), Policy(approval=ApprovalPolicy(four_eyes=[])))
    await deliver(ctx, db, raised("inc_7", Severity.SEV1, by="alice"))
    draft = await pending(db, "inc_7")
    assert await approve(ctx, db, draft.id, ALICE, None) == "approved"


async def test_the_rule_follows_the_incidents_current_severity(
    ctx: RouterContext, db: Database
) -> None:
    await deliver(ctx, db, raised("inc_8", Severity.SEV3, by="alice"))
    update = updated("inc_8", by="op").model_copy(update={"severity": Severity.SEV2})
    await deliver(ctx, db, update)
    draft = await pending(db, "inc_8")
    problem = await refusal(ctx, db, draft.id, ALICE)
    assert problem.detail is not None
    assert problem.detail.startswith("four-eyes rule for sev2: alice raised this incident")


async def test_every_edit_approval_and_rejection_is_audited_with_who_and_when(
    db: Database,
) -> None:
    clock = Clock()
    ctx = router_context(clock)
    start = clock.now
    await deliver(ctx, db, raised("inc_9", Severity.SEV2))
    draft = await pending(db, "inc_9")
    clock.advance(minutes=1)
    await edit(ctx, db, draft.id, "status", ALICE)
    clock.advance(minutes=1)
    await approve(ctx, db, draft.id, BOB, None)
    await deliver(ctx, db, updated("inc_9"))
    second = await pending(db, "inc_9")
    clock.advance(minutes=1)
    async with db.transaction() as session:
        await approvals.reject(ctx, session, draft_id=second.id, reason="too vague", by=ALICE)
    expected = [
        ("draft.edited", "alice", draft.id, start + timedelta(minutes=1)),
        ("draft.approved", "bob", draft.id, start + timedelta(minutes=2)),
        ("draft.rejected", "alice", second.id, start + timedelta(minutes=3)),
    ]
    async with db.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("draft.%")).order_by(AuditEntry.id)
        )
        assert [(r.action, r.actor, r.entity_id, r.at) for r in rows] == expected
        outbox = await session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.topic == ctx.topics.audit)
            .order_by(OutboxEntry.id)
        )
        published = [parse_event(row.value).data for row in outbox]
    on_kafka = [
        (d.action, d.actor, d.entity_id, d.at)
        for d in published
        if isinstance(d, AuditRecorded) and d.action.startswith("draft.")
    ]
    assert on_kafka == expected


async def test_lowering_the_severity_does_not_lift_the_rule(
    ctx: RouterContext, db: Database
) -> None:
    """The review's bypass: an admin raised a sev1, lowered it to sev3 with an update and
    approved the new draft alone. The rule goes by the highest severity the incident had."""
    await deliver(ctx, db, raised("inc_low", Severity.SEV1, by="root"))
    first = await pending(db, "inc_low")
    await refusal(ctx, db, first.id, ROOT)
    await deliver(ctx, db, updated("inc_low", by="root", severity=Severity.SEV3))
    draft = await pending(db, "inc_low")
    assert draft.id != first.id
    problem = await refusal(ctx, db, draft.id, ROOT)
    assert problem.detail == (
        "four-eyes rule for sev1 (it was sev1; it is sev3 now): root raised this incident and "
        "last updated this incident; another duty manager must approve."
    )
    assert problem.facts["severity"] == "sev1"
    assert await approve(ctx, db, draft.id, BOB, None) == "approved"


async def test_raising_the_severity_is_remembered_too(ctx: RouterContext, db: Database) -> None:
    await deliver(ctx, db, raised("inc_up", Severity.SEV3, by="root"))
    await deliver(ctx, db, updated("inc_up", by="root", severity=Severity.SEV1))
    await deliver(ctx, db, updated("inc_up", by="root", severity=Severity.SEV4))
    draft = await pending(db, "inc_up")
    assert (await refusal(ctx, db, draft.id, ROOT)).facts["severity"] == "sev1"
