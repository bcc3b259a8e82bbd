"""The publisher's handlers against a real SQLite database: once only, fenced, reported."""

from datetime import UTC, datetime

import pytest
from publisher_harness import CHANNELS, HalfWayFailingAdapter, Publisher, RecordingAdapter
from sqlalchemy import func, select

from services.publisher.channels import ChannelRegistry
from services.publisher.models import ChannelPause, Delivery, StatusEntry
from services.publisher.settings import PublisherSettings
from shared.contract.events import (
    ChannelPaused,
    ChannelResumed,
    CloudEvent,
    DeliveryFailed,
    DeliveryHeld,
    DeliveryPublished,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
    derived_id,
)
from shared.contract.topics import Topics
from shared.runtime.database import Database

AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
INCIDENT = IncidentRef(
    incident_id="inc_00000000000000000001",
    title="Signal failure at Kings Cross",
    severity=Severity.SEV2,
    status=IncidentStatus.INVESTIGATING,
)


def status_update(message_id: str = "msg-1", channel_id: str = "status") -> PublishRequested:
    return PublishRequested(
        message_id=message_id,
        channel_id=channel_id,
        kind=MessageKind.STATUS_UPDATE,
        text="Trains are delayed; we are on it.",
        incident=INCIDENT,
        approved_by="dev-duty_manager",
        requested_at=AT,
    )


def marketing_post(message_id: str = "mkt-1", channel_id: str = "promo") -> PublishRequested:
    return PublishRequested(
        message_id=message_id,
        channel_id=channel_id,
        kind=MessageKind.MARKETING,
        text="Half-price weekend tickets!",
        post_id="post-7",
        requested_at=AT,
    )


def paused(channel_id: str = "promo") -> ChannelPaused:
    return ChannelPaused(
        channel_id=channel_id,
        incident_id=INCIDENT.incident_id,
        reason="sev2 incident inc_00000000000000000001",
        paused_at=AT,
    )


async def status_entries(database: Database) -> list[StatusEntry]:
    async with database.sessions() as session:
        return list((await session.scalars(select(StatusEntry))).all())


async def delivery(database: Database, message_id: str) -> Delivery | None:
    async with database.sessions() as session:
        return await session.get(Delivery, message_id)


async def test_status_update_is_published_on_the_status_page(
    publisher: Publisher, database: Database
) -> None:
    request = await publisher.handle(status_update())

    [entry] = await status_entries(database)
    assert (entry.incident_id, entry.title, entry.severity, entry.status, entry.text) == (
        INCIDENT.incident_id,
        "Signal failure at Kings Cross",
        "sev2",
        "investigating",
        "Trains are delayed; we are on it.",
    )
    row = await delivery(database, "msg-1")
    assert row is not None
    assert (row.state, row.attempts, row.remote_id, row.incident_id) == (
        "published",
        1,
        str(entry.id),
        INCIDENT.incident_id,
    )
    [(topic, key, report)] = await publisher.outbox()
    assert (topic, key, report.subject, report.source) == (
        "t.deliveries",
        "msg-1",
        "msg-1",
        "/planb/publisher",
    )
    assert report.id == derived_id(request.id, "delivery", "msg-1")
    assert isinstance(report.data, DeliveryPublished)
    assert report.data.model_dump(exclude={"at"}) == {
        "message_id": "msg-1",
        "channel_id": "status",
        "kind": MessageKind.STATUS_UPDATE,
        "incident_id": INCIDENT.incident_id,
        "post_id": None,
        "attempts": 1,
        "remote_id": str(entry.id),
        "url": f"https://status.example.test/status#{INCIDENT.incident_id}",
    }
    assert publisher.wakes == 1


async def test_redelivered_request_under_a_new_event_id_posts_nothing_more(
    publisher: Publisher, database: Database
) -> None:
    first = await publisher.handle(status_update(), event_id="evt-a")
    second = await publisher.handle(status_update(), event_id="evt-b")

    assert first.id != second.id
    assert len(await status_entries(database)) == 1
    row = await delivery(database, "msg-1")
    assert row is not None
    assert (row.state, row.attempts) == ("published", 1)
    assert [event.type for _, _, event in await publisher.outbox()] == [
        DeliveryPublished.event_type
    ]
    assert publisher.wakes == 1


async def test_marketing_on_a_paused_channel_is_held_not_sent(
    publisher: Publisher, database: Database, recording: RecordingAdapter
) -> None:
    await publisher.handle(paused())
    await publisher.handle(marketing_post())

    assert recording.sent == []
    row = await delivery(database, "mkt-1")
    assert row is not None
    assert (row.state, row.attempts, row.post_id) == ("held", 0, "post-7")
    [(_, key, report)] = await publisher.outbox()
    assert key == "mkt-1"
    assert isinstance(report.data, DeliveryHeld)
    assert report.data.reason == (
        "channel 'promo' is paused: sev2 incident inc_00000000000000000001"
    )
    async with database.sessions() as session:
        pause = await session.get(ChannelPause, "promo")
    assert pause is not None
    assert (pause.paused, pause.incident_id, pause.updated_at) == (True, INCIDENT.incident_id, AT)


async def test_marketing_is_sent_once_the_channel_resumes(
    publisher: Publisher, database: Database, recording: RecordingAdapter
) -> None:
    await publisher.handle(paused())
    await publisher.handle(marketing_post(), event_id="evt-held")
    await publisher.handle(ChannelResumed(channel_id="promo", resumed_at=AT))
    await publisher.handle(marketing_post(), event_id="evt-resent")

    assert [post.idempotency_key for post in recording.sent] == ["mkt-1"]
    row = await delivery(database, "mkt-1")
    assert row is not None
    assert (row.state, row.attempts, row.remote_id) == ("published", 1, "remote-1")
    assert [type(event.data) for _, _, event in await publisher.outbox()] == [
        DeliveryHeld,
        DeliveryPublished,
    ]


async def test_status_updates_go_out_on_a_paused_channel(
    publisher: Publisher, database: Database
) -> None:
    await publisher.handle(paused("status"))
    await publisher.handle(status_update())

    row = await delivery(database, "msg-1")
    assert row is not None
    assert row.state == "published"
    assert len(await status_entries(database)) == 1


@pytest.mark.parametrize(
    ("request_", "error", "attempts"),
    [
        (status_update(channel_id="nope"), "unknown channel 'nope'", 0),
        (marketing_post(channel_id="masto"), "channel type mastodon has no adapter yet", 0),
        (marketing_post(channel_id="status"), "channel 'status' does not take marketing posts", 0),
        (
            status_update().model_copy(update={"incident": None}),
            "the status page shows incident updates only; this has no incident",
            1,
        ),
    ],
    ids=["unknown-channel", "no-adapter", "no-marketing", "no-incident"],
)
async def test_undeliverable_message_is_reported_failed(
    publisher: Publisher,
    database: Database,
    request_: PublishRequested,
    error: str,
    attempts: int,
) -> None:
    """Refused before any attempt (0) or by the adapter itself (1)."""
    await publisher.handle(request_)

    row = await delivery(database, request_.message_id)
    assert row is not None
    assert (row.state, row.attempts, row.error) == ("failed", attempts, error)
    [(_, key, report)] = await publisher.outbox()
    assert key == request_.message_id
    assert isinstance(report.data, DeliveryFailed)
    assert (report.data.channel_id, report.data.error) == (request_.channel_id, error)
    assert await status_entries(database) == []


async def test_pause_and_resume_record_nothing_on_the_outbox(
    publisher: Publisher, database: Database
) -> None:
    await publisher.handle(paused())
    await publisher.handle(ChannelResumed(channel_id="promo", incident_id="inc_x", resumed_at=AT))

    async with database.sessions() as session:
        pause = await session.get(ChannelPause, "promo")
        pauses = await session.scalar(select(func.count()).select_from(ChannelPause))
    assert pause is not None
    assert (pause.paused, pause.reason, pause.incident_id, pauses) == (False, None, "inc_x", 1)
    assert await publisher.outbox() == []
    assert publisher.wakes == 0


async def test_a_refusal_rolls_back_what_the_adapter_wrote(
    database: Database, settings: PublisherSettings
) -> None:
    registry = ChannelRegistry(CHANNELS, {"status": HalfWayFailingAdapter})
    publisher = Publisher(database, registry, Topics(settings.topic_prefix))

    await publisher.handle(status_update())

    row = await delivery(database, "msg-1")
    assert row is not None
    assert (row.state, row.error) == ("failed", "platform said 403: account suspended")
    assert await status_entries(database) == []
    assert [type(event.data) for _, _, event in await publisher.outbox()] == [DeliveryFailed]


async def test_reports_are_not_staged_and_relay_not_woken_when_the_transaction_fails(
    publisher: Publisher, database: Database
) -> None:
    event = CloudEvent.wrap(status_update(), source="/planb/router")

    async def handle_then_fail() -> None:
        async with database.transaction() as session:
            await publisher.handlers[event.type](event, session)
            raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        await handle_then_fail()

    assert await publisher.outbox() == []
    assert await status_entries(database) == []
    assert publisher.wakes == 0
