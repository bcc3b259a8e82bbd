"""The notifier's two transactions around a batch: claim (with what each note needs, read in
the same transaction) and settle (sent, retried on the schedule, failed, bounced)."""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.platforms.statuspage import status_page_url
from services.publisher.channels.protocol import (
    ChannelError,
    PermanentChannelError,
    RetryableChannelError,
)
from services.publisher.models import (
    CONFIRMATION,
    Notification,
    NotificationState,
    StatusEntry,
    Subscriber,
    SubscriberState,
)
from services.publisher.schedule import RetryPolicy
from services.publisher.subscriber_notes import Note, Update
from services.publisher.subscriptions import link_token
from shared.contract.events import utcnow


@dataclass(frozen=True)
class Links:
    """The public addresses a note links to (the status page, confirm, unsubscribe)."""

    base_url: str
    page_title: str
    secret: str

    def subscription(self, subscriber_id: str, purpose: str) -> str:
        token = link_token(self.secret, purpose, subscriber_id)
        base = self.base_url.rstrip("/")
        return f"{base}/status/subscriptions/{quote(subscriber_id)}/{purpose}?token={token}"


class Skipped(ChannelError):
    """Nothing to send: the subscription ended, or the update is gone (not the address's
    fault, so the subscriber is not marked)."""


@dataclass(frozen=True)
class Claimed:
    """A claimed notification and its note, or why there is nothing to send (`refusal`)."""

    id: int
    kind: str
    note: Note | None
    refusal: ChannelError | None = None


async def claim_batch(
    session: AsyncSession, *, limit: int, kinds: list[str], links: Links
) -> list[Claimed]:
    now = utcnow()
    due = (
        select(Notification.id)
        .join(Subscriber, Subscriber.id == Notification.subscriber_id)
        .where(
            Notification.state == NotificationState.PENDING.value,
            Notification.next_attempt_at <= now,
            Subscriber.kind.in_(kinds),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    rows = (
        await session.execute(
            update(Notification)
            .where(
                Notification.id.in_(due.scalar_subquery()),
                Notification.state == NotificationState.PENDING.value,
            )
            .values(
                state=NotificationState.SENDING.value,
                claimed_at=now,
                attempts=Notification.attempts + 1,
                updated_at=now,
            )
            .returning(Notification.id, Notification.subscriber_id, Notification.message_id)
        )
    ).all()
    if not rows:
        return []
    subscribers = {
        s.id: s
        for s in (
            await session.scalars(select(Subscriber).where(Subscriber.id.in_({r[1] for r in rows})))
        ).all()
    }
    entries = {
        e.message_id: e
        for e in (
            await session.scalars(
                select(StatusEntry).where(StatusEntry.message_id.in_({r[2] for r in rows}))
            )
        ).all()
    }
    claimed = [
        _claimed(
            note_id,
            subscribers[sub_id],
            entry=entries.get(message_id),
            message_id=message_id,
            links=links,
        )
        for note_id, sub_id, message_id in sorted(rows)
    ]
    return claimed


def _claimed(
    note_id: int,
    subscriber: Subscriber,
    *,
    entry: StatusEntry | None,
    message_id: str,
    links: Links,
) -> Claimed:
    opt_in = message_id == CONFIRMATION
    wanted = SubscriberState.PENDING if opt_in else SubscriberState.ACTIVE
    if subscriber.state != wanted.value:
        refusal = Skipped(f"the subscription is {subscriber.state}")
        return Claimed(note_id, subscriber.kind, None, refusal)
    update_ = None
    if not opt_in:
        if entry is None:
            return Claimed(note_id, subscriber.kind, None, Skipped("no such update"))
        update_ = Update(
            message_id=entry.message_id,
            incident_id=entry.incident_id,
            title=entry.title,
            status=entry.status,
            text=entry.text,
            url=status_page_url(links.base_url, entry.incident_id),
            published_at=entry.published_at,
        )
    note = Note(
        key=f"planb-{subscriber.id}-{message_id}",
        subscriber_id=subscriber.id,
        address=subscriber.address,
        page_title=links.page_title,
        page_url=status_page_url(links.base_url),
        confirm_url=links.subscription(subscriber.id, "confirm"),
        unsubscribe_url=links.subscription(subscriber.id, "unsubscribe"),
        update=update_,
        secret=subscriber.secret,
    )
    return Claimed(note_id, subscriber.kind, note)


async def settle_batch(
    session: AsyncSession,
    *,
    outcomes: Sequence[tuple[int, ChannelError | None]],
    verified: Sequence[str] = (),
    policy: RetryPolicy,
) -> None:
    """Sent rows in one statement; each failure by its kind: retried, given up, bounced;
    webhooks that answered their verification ping become active."""
    now = utcnow()
    if verified:
        await session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(verified), Subscriber.state == SubscriberState.PENDING.value)
            .values(state=SubscriberState.ACTIVE.value, confirmed_at=now, updated_at=now)
        )
    sent = [note_id for note_id, error in outcomes if error is None]
    if sent:
        await session.execute(
            update(Notification)
            .where(Notification.id.in_(sent))
            .values(state=NotificationState.SENT.value, error=None, updated_at=now)
        )
    for note_id, error in outcomes:
        if error is None:
            continue
        note = await session.get(Notification, note_id)
        if note is None:  # erased meanwhile
            continue
        note.error = str(error)[:2000]
        note.updated_at = now
        age = (now - note.created_at).total_seconds()
        give_up = policy.give_up_reason(note.attempts, age)
        if isinstance(error, RetryableChannelError) and give_up is None:
            note.state = NotificationState.PENDING.value
            note.next_attempt_at = policy.next_attempt(now, note.attempts, error.retry_after)
            continue
        note.state = NotificationState.FAILED.value
        if isinstance(error, PermanentChannelError):
            await _mark_refused(session, note.subscriber_id, str(error))


async def _mark_refused(session: AsyncSession, subscriber_id: str, error: str) -> None:
    """A refusal by the address itself (a bounce): nothing more goes to it."""
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.state == SubscriberState.ACTIVE.value:
        subscriber.state = SubscriberState.BOUNCED.value
        subscriber.last_error = error[:2000]
        subscriber.updated_at = utcnow()
