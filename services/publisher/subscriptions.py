"""Readers' subscriptions: subscribe (double opt-in), confirm, unsubscribe, and an admin's
export and erasure of what is stored on an address.

Links in mail carry a token derived from the subscriber's id (HMAC with
`SUBSCRIPTION_SECRET`), so nothing secret is stored and a link works as long as the
subscription exists. Subscribing answers the same whatever the address's history, so the
page does not tell who is subscribed.
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.components import Component, ComponentsFile, affects
from services.publisher.models import (
    CONFIRMATION,
    Notification,
    NotificationState,
    Subscriber,
    SubscriberState,
)
from services.publisher.schemas_subscriptions import (
    NotificationRecord,
    SubscriberRecord,
    SubscriptionIn,
)
from shared.contract.errors import NotFound, Rejected
from shared.contract.events import utcnow

RESEND_CONFIRMATION_AFTER = timedelta(hours=1)
"""A second subscribe for a pending address mails again only after this (no mail bombing)."""


def check_public_url(url: str) -> None:
    """A webhook must be https and not name the publisher's own network by address (a name
    resolving to one is not caught here: an egress policy is the real fence)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".local"):
        raise Rejected("Webhook not public", "A webhook subscription needs a public https URL.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global:
        raise Rejected("Webhook not public", "A webhook subscription needs a public https URL.")


def link_token(secret: str, purpose: str, subscriber_id: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{subscriber_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:18]).decode()


def check_token(secret: str, purpose: str, subscriber_id: str, *, token: str) -> None:
    expected = link_token(secret, purpose, subscriber_id).encode()
    if not hmac.compare_digest(expected, token.encode()):  # bytes: any text is comparable
        raise NotFound("Subscription not found", "The link is not valid (or no longer).")


async def subscribe(
    session: AsyncSession, body: SubscriptionIn, *, components: ComponentsFile
) -> Subscriber:
    """A pending subscriber and its opt-in message queued; an active one is left as it is
    (anyone may post an address: to change a choice, unsubscribe from a message first)."""
    unknown = sorted(set(body.components) - {c.id for c in components.components})
    if unknown:
        raise Rejected("Unknown component", f"No component {', '.join(unknown)}.")
    kind, address = body.kind_and_address()
    now = utcnow()
    subscriber = await session.scalar(
        select(Subscriber).where(Subscriber.kind == kind, Subscriber.address == address)
    )
    if subscriber is None:
        subscriber = Subscriber(
            id="sub_" + secrets.token_hex(10), kind=kind, address=address, created_at=now
        )
        session.add(subscriber)
    if subscriber.state == SubscriberState.ACTIVE.value:
        return subscriber  # a stranger may not change it: unsubscribe, then subscribe again
    subscriber.components = list(body.components)
    subscriber.regions = list(body.regions)
    subscriber.secret = body.secret
    subscriber.updated_at = now
    subscriber.state = SubscriberState.PENDING.value
    await session.flush()
    opt_in = await session.scalar(
        select(Notification).where(
            Notification.subscriber_id == subscriber.id, Notification.message_id == CONFIRMATION
        )
    )
    if opt_in is None:
        session.add(_due(subscriber.id, CONFIRMATION))
    elif (
        opt_in.state != NotificationState.SENDING
        and opt_in.updated_at < now - RESEND_CONFIRMATION_AFTER
    ):
        opt_in.state, opt_in.attempts, opt_in.next_attempt_at = "pending", 0, now
        opt_in.updated_at = now
    return subscriber


async def opt_ins_since(session: AsyncSession, since: datetime) -> int:
    """Opt-in messages queued since `since` (counted in the database: every replica's)."""
    query = select(func.count()).where(
        Notification.message_id == CONFIRMATION, Notification.updated_at >= since
    )
    return int(await session.scalar(query) or 0)


async def confirm(
    session: AsyncSession, *, subscriber_id: str, token: str, secret: str
) -> Subscriber:
    check_token(secret, "confirm", subscriber_id, token=token)
    subscriber = await _get(session, subscriber_id)
    if subscriber.state == SubscriberState.PENDING.value:
        subscriber.state = SubscriberState.ACTIVE.value
        subscriber.confirmed_at = subscriber.updated_at = utcnow()
    return subscriber


async def unsubscribe(
    session: AsyncSession, *, subscriber_id: str, token: str, secret: str
) -> Subscriber:
    check_token(secret, "unsubscribe", subscriber_id, token=token)
    subscriber = await _get(session, subscriber_id)
    subscriber.state = SubscriberState.UNSUBSCRIBED.value
    subscriber.updated_at = utcnow()
    await session.execute(
        delete(Notification).where(
            Notification.subscriber_id == subscriber_id,
            Notification.state == NotificationState.PENDING.value,
        )
    )
    return subscriber


async def export(session: AsyncSession, *, address: str) -> list[SubscriberRecord]:
    """Everything stored on `address` (an email or a webhook URL), for the person it is."""
    subscribers = (
        await session.scalars(select(Subscriber).where(Subscriber.address == address))
    ).all()
    records = []
    for subscriber in subscribers:
        sent = (
            await session.scalars(
                select(Notification)
                .where(Notification.subscriber_id == subscriber.id)
                .order_by(Notification.id)
            )
        ).all()
        records.append(
            SubscriberRecord.model_validate(subscriber).model_copy(
                update={"notifications": [NotificationRecord.model_validate(n) for n in sent]}
            )
        )
    return records


async def erase(session: AsyncSession, *, address: str) -> int:
    """Delete the address and every row about it; how many subscriptions were erased."""
    ids = list(
        (await session.scalars(select(Subscriber.id).where(Subscriber.address == address))).all()
    )
    if ids:
        await session.execute(delete(Notification).where(Notification.subscriber_id.in_(ids)))
        await session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
    return len(ids)


def wants(
    subscriber: Subscriber,
    *,
    services: list[str],
    regions: list[str],
    components: ComponentsFile,
) -> bool:
    """Whether an update with these tags is for `subscriber`: everything when they chose
    nothing; else a chosen component it affects or a chosen region it names (an update
    naming no tags, or the region `all`, is for everyone)."""
    if not subscriber.components and not subscriber.regions:
        return True
    if (not services and not regions) or "all" in regions or set(regions) & set(subscriber.regions):
        return True
    chosen: list[Component] = [c for c in components.components if c.id in subscriber.components]
    return any(affects(c, services=services, regions=regions) for c in chosen)


def _due(subscriber_id: str, message_id: str) -> Notification:
    now = utcnow()
    return Notification(
        subscriber_id=subscriber_id,
        message_id=message_id,
        state=NotificationState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


async def _get(session: AsyncSession, subscriber_id: str) -> Subscriber:
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound("Subscription not found", "The link is not valid (or no longer).")
    return subscriber
