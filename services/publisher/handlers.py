"""What the publisher does with each record on `planb.outbound`.

A message is sent at most once: its `deliveries` row is checked first and a `published` row
ends the story, whatever event id the request arrives under. Delivery reports go to the
outbox in the same transaction as the state they describe; the relay sends them after commit.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels import ChannelError, ChannelRegistry, OutgoingPost
from services.publisher.metrics import PublisherMetrics
from services.publisher.models import ChannelPause, Delivery, DeliveryState
from shared.contract.events import (
    ChannelPaused,
    ChannelResumed,
    CloudEvent,
    DeliveryFailed,
    DeliveryHeld,
    DeliveryOutcome,
    DeliveryPublished,
    MessageKind,
    PublishRequested,
    PublishRequestedV2,
    derived_id,
    utcnow,
)
from shared.contract.topics import Topics
from shared.runtime.consumer import Handler, payload_of
from shared.runtime.database import after_commit
from shared.runtime.outbox import add_to_outbox
from shared.runtime.waterfall import Waterfall

log = logging.getLogger(__name__)

SOURCE = "/planb/publisher"

HandOver = Callable[[AsyncSession, PublishRequested], Awaitable[None]]


def publisher_handlers(
    *,
    topics: Topics,
    channels: ChannelRegistry,
    wake: Callable[[], None],
    hand_over: HandOver | None = None,
    waterfall: Waterfall | None = None,
    metrics: PublisherMetrics | None = None,
) -> dict[str, Handler]:
    """The consumer's registry; `wake` nudges the outbox relay once a report is committed;
    `hand_over(session, message)` gives the dispatcher a network delivery queued in
    `session` (it may claim it there, and wakes once it commits); `waterfall` times a
    request's arrival and its delivery row; `metrics` counts the outcomes settled here and
    times pauses."""
    stages = waterfall or Waterfall()

    def emit(session: AsyncSession, outcome: DeliveryOutcome, cause: CloudEvent) -> None:
        if metrics is not None:
            after_commit(session, partial(metrics.settled_here, outcome))
        report_delivery(
            session,
            topics,
            outcome,
            event_id=derived_id(cause.id, "delivery", outcome.message_id),
            wake=wake,
        )

    async def on_publish_requested(event: CloudEvent, session: AsyncSession) -> None:
        message = payload_of(event, PublishRequested)
        stages.mark("consumed", message.requested_at)
        delivery = await session.get(Delivery, message.message_id)
        if delivery is None:
            delivery = new_delivery(message)
            session.add(delivery)
        elif delivery.state in (DeliveryState.PUBLISHED, DeliveryState.SENDING) or (
            delivery.state == DeliveryState.PENDING and delivery.request is not None
        ):
            log.info(
                "message_id=%s channel=%s already %s; request %s skipped",
                message.message_id,
                message.channel_id,
                delivery.state,
                event.id,
            )
            return
        outcome = await _deliver(message, delivery, session, channels=channels)
        if outcome is None:
            after_commit(session, lambda: stages.mark("delivery_written", message.requested_at))
            if hand_over is not None:
                await hand_over(session, message)
        else:
            emit(session, outcome, event)

    async def on_channel_paused(event: CloudEvent, session: AsyncSession) -> None:
        paused = payload_of(event, ChannelPaused)
        pause = await _pause_row(session, paused.channel_id)
        pause.paused = True
        pause.reason = paused.reason
        pause.incident_id = paused.incident_id
        pause.updated_at = paused.paused_at
        held = await _hold_waiting_marketing(session, paused)
        if metrics is not None:
            after_commit(session, partial(metrics.paused, paused.paused_at))
        for outcome in held:
            emit(session, outcome, event)
        log.info(
            "channel=%s paused incident_id=%s: %s (%d waiting marketing posts held)",
            paused.channel_id,
            paused.incident_id,
            paused.reason,
            len(held),
        )

    async def on_channel_resumed(event: CloudEvent, session: AsyncSession) -> None:
        resumed = payload_of(event, ChannelResumed)
        pause = await _pause_row(session, resumed.channel_id)
        pause.paused = False
        pause.reason = None
        pause.incident_id = resumed.incident_id
        pause.updated_at = resumed.resumed_at
        log.info("channel=%s resumed incident_id=%s", resumed.channel_id, resumed.incident_id)

    return {
        PublishRequested.event_type: on_publish_requested,
        PublishRequestedV2.event_type: on_publish_requested,  # a v1 with its languages
        ChannelPaused.event_type: on_channel_paused,
        ChannelResumed.event_type: on_channel_resumed,
    }


def report_delivery(
    session: AsyncSession,
    topics: Topics,
    outcome: DeliveryOutcome,
    *,
    event_id: str,
    wake: Callable[[], None],
) -> None:
    """Stage a delivery report on `planb.deliveries` in the state change's own transaction."""
    report = CloudEvent.wrap(outcome, source=SOURCE, subject=outcome.message_id, id=event_id)
    add_to_outbox(session, topic=topics.deliveries, key=outcome.message_id, event=report, wake=wake)


async def _hold_waiting_marketing(
    session: AsyncSession, paused: ChannelPaused
) -> list[DeliveryOutcome]:
    """Marketing posts queued or waiting for a retry on the channel are held, in one statement."""
    now = utcnow()
    rows = (
        await session.execute(
            update(Delivery)
            .where(
                Delivery.channel_id == paused.channel_id,
                Delivery.kind == MessageKind.MARKETING.value,
                Delivery.state == DeliveryState.PENDING.value,
            )
            .values(state=DeliveryState.HELD.value, next_attempt_at=None, updated_at=now)
            .returning(Delivery.message_id, Delivery.post_id, Delivery.attempts)
        )
    ).all()
    return [
        DeliveryHeld(
            message_id=message_id,
            channel_id=paused.channel_id,
            kind=MessageKind.MARKETING,
            post_id=post_id,
            attempts=attempts,
            at=now,
            reason=f"channel {paused.channel_id!r} is paused: {paused.reason}",
        )
        for message_id, post_id, attempts in rows
    ]


async def _deliver(
    message: PublishRequested,
    delivery: Delivery,
    session: AsyncSession,
    *,
    channels: ChannelRegistry,
) -> DeliveryOutcome | None:
    """Hold, send, queue (network channels: None) or fail the message; record it on its row."""
    now = utcnow()
    delivery.updated_at = now
    common: dict[str, Any] = {
        "message_id": message.message_id,
        "channel_id": message.channel_id,
        "kind": message.kind,
        "incident_id": delivery.incident_id,
        "post_id": message.post_id,
        "at": now,
    }
    held_by = await paused_reason(session, message)
    if held_by is not None:
        delivery.state = DeliveryState.HELD.value
        delivery.error = None
        log.info(
            "message_id=%s channel=%s held: %s", message.message_id, message.channel_id, held_by
        )
        return DeliveryHeld(**common, attempts=delivery.attempts, reason=held_by)
    try:
        channel = channels.check(message)
    except ChannelError as exc:
        return _failed(delivery, common, exc)
    if channels.is_network(channel.id):
        delivery.state = DeliveryState.PENDING.value
        delivery.request = message.model_dump_json()
        delivery.next_attempt_at = now
        return None
    delivery.attempts += 1
    sender = channels.in_transaction(channel.id, session)
    try:
        async with session.begin_nested():
            sent = await sender.send(OutgoingPost.of(message))
    except ChannelError as exc:
        return _failed(delivery, common, exc)
    delivery.state = DeliveryState.PUBLISHED.value
    delivery.error = None
    delivery.remote_id = sent.remote_id
    delivery.url = sent.url
    log.info(
        "message_id=%s channel=%s incident_id=%s published at %s",
        message.message_id,
        message.channel_id,
        delivery.incident_id,
        sent.url,
    )
    return DeliveryPublished(
        **common, attempts=delivery.attempts, remote_id=sent.remote_id, url=sent.url
    )


def _failed(delivery: Delivery, common: dict[str, Any], exc: ChannelError) -> DeliveryFailed:
    delivery.state = DeliveryState.FAILED.value
    delivery.error = str(exc)
    log.warning(
        "message_id=%s channel=%s incident_id=%s failed: %s",
        delivery.message_id,
        delivery.channel_id,
        delivery.incident_id,
        exc,
    )
    return DeliveryFailed(**common, attempts=delivery.attempts, error=str(exc))


async def paused_reason(session: AsyncSession, message: PublishRequested) -> str | None:
    """Why a marketing post must wait, or None; status updates are never paused."""
    if message.kind is not MessageKind.MARKETING:
        return None
    pause = await session.get(ChannelPause, message.channel_id)
    if pause is None or not pause.paused:
        return None
    return f"channel {message.channel_id!r} is paused: {pause.reason or 'no reason given'}"


async def _pause_row(session: AsyncSession, channel_id: str) -> ChannelPause:
    pause = await session.get(ChannelPause, channel_id)
    if pause is None:
        pause = ChannelPause(channel_id=channel_id, paused=False)
        session.add(pause)
    return pause


def new_delivery(message: PublishRequested) -> Delivery:
    now = utcnow()
    return Delivery(
        message_id=message.message_id,
        channel_id=message.channel_id,
        kind=message.kind.value,
        incident_id=message.incident.incident_id if message.incident else None,
        post_id=message.post_id,
        state=DeliveryState.PENDING.value,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
