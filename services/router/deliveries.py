"""Recording what the publisher reports on `planb.deliveries`."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.models import Delivery, DraftText, MarketingPost, TimelineEntry
from shared.contract.events import (
    CloudEvent,
    DeliveryFailed,
    DeliveryHeld,
    DeliveryOutcome,
    DeliveryPublished,
    DeliveryRetrying,
)
from shared.runtime.consumer import Handler, payload_of
from shared.runtime.waterfall import Waterfall

_STATES: dict[type[DeliveryOutcome], str] = {
    DeliveryPublished: "published",
    DeliveryFailed: "failed",
    DeliveryHeld: "held",
    DeliveryRetrying: "retrying",
}
_FINAL = {"published", "failed", "held"}


def delivery_handlers(waterfall: Waterfall | None = None) -> dict[str, Handler]:
    """The registry of `planb.deliveries` handlers, keyed by event type; `waterfall` times
    the first report on each approved message (the last stage of approve → published)."""
    stages = waterfall or Waterfall()
    return {model.event_type: _make_handler(model, stages) for model in _STATES}


def _make_handler(model: type[DeliveryOutcome], stages: Waterfall) -> Handler:
    state = _STATES[model]

    async def on_delivery(event: CloudEvent, session: AsyncSession) -> None:
        data = payload_of(event, model)
        delivery = await session.get(Delivery, data.message_id)
        if delivery is None:
            draft_id = await session.scalar(
                select(DraftText.draft_id).where(DraftText.message_id == data.message_id)
            )
            delivery = Delivery(
                message_id=data.message_id,
                incident_id=data.incident_id,
                draft_id=draft_id,
                channel_id=data.channel_id,
                state=state,
                attempts=0,
                updated_at=data.at,
            )
            session.add(delivery)
        elif delivery.state in _FINAL and state == "retrying":
            return  # a late "retrying" never overwrites a final outcome
        elif delivery.state == "requested":  # stamped at the approval
            stages.mark("report_consumed", delivery.updated_at)
        delivery.state = state
        delivery.attempts = data.attempts
        delivery.updated_at = data.at
        delivery.detail = _detail(data)
        if isinstance(data, DeliveryPublished):
            delivery.url = data.url
        if data.post_id is not None:
            await _settle_post(session, data, state=state, detail=delivery.detail)
        if data.incident_id and state in _FINAL:
            session.add(
                TimelineEntry(
                    incident_id=data.incident_id,
                    kind=f"delivery.{state}",
                    text=f"{data.channel_id}: {state}"
                    + (f" ({delivery.detail})" if delivery.detail else ""),
                    actor="publisher",
                    at=data.at,
                )
            )

    return on_delivery


async def _settle_post(
    session: AsyncSession, data: DeliveryOutcome, *, state: str, detail: str | None
) -> None:
    """Carry the outcome to the marketing post; only a post with the publisher (`emitted`)
    changes, except that `published` always wins (the platform has it)."""
    post = await session.get(MarketingPost, data.post_id)
    if post is None or state == "retrying":
        return
    if post.state != "emitted" and state != "published":
        return
    post.state = state
    post.detail = detail
    post.updated_at = data.at
    if isinstance(data, DeliveryPublished):
        post.url = data.url


def _detail(data: DeliveryOutcome) -> str | None:
    if isinstance(data, DeliveryFailed | DeliveryRetrying):
        return data.error
    if isinstance(data, DeliveryHeld):
        return data.reason
    return None
