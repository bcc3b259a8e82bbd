"""Test harness for the publisher's handlers: a recording channel and a consumer stand-in."""

from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels import ChannelRegistry, OutgoingPost, PermanentChannelError, Posted
from services.publisher.channels.platforms.statuspage import StatusPageChannel
from services.publisher.handlers import publisher_handlers
from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.events import CloudEvent, EventData, parse_event
from shared.contract.topics import Topics
from shared.runtime.database import Database, OutboxEntry

CHANNELS = [
    ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status page"),
    ChannelConfig(id="promo", type=ChannelType.WEBHOOK, name="Promotions", marketing=True),
    ChannelConfig(id="masto", type=ChannelType.MASTODON, name="Mastodon", marketing=True),
]


class RecordingAdapter:
    """A channel peer in memory, behind the same protocol as the real adapters."""

    channel_id = "promo"
    idempotent: ClassVar[bool] = True

    def __init__(self) -> None:
        self.sent: list[OutgoingPost] = []

    def bound(self, _session: AsyncSession) -> "RecordingAdapter":
        return self

    async def send(self, post: OutgoingPost) -> Posted:
        self.sent.append(post)
        return Posted(
            remote_id=f"remote-{len(self.sent)}", url=f"https://example.test/{len(self.sent)}"
        )


class Publisher:
    """Drives the handlers the way the consumer does: one transaction per event."""

    def __init__(self, database: Database, registry: ChannelRegistry, topics: Topics) -> None:
        self.database = database
        self.topics = topics
        self.wakes = 0
        self.handlers = publisher_handlers(topics=topics, channels=registry, wake=self._wake)

    def _wake(self) -> None:
        self.wakes += 1

    async def handle(self, data: EventData, *, event_id: str | None = None) -> CloudEvent:
        event = CloudEvent.wrap(data, source="/planb/router", id=event_id)
        async with self.database.transaction() as session:
            await self.handlers[event.type](event, session)
        return event

    async def outbox(self) -> list[tuple[str, str, CloudEvent]]:
        async with self.database.sessions() as session:
            rows = (await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))).all()
        return [(row.topic, row.key, parse_event(row.value)) for row in rows]


class HalfWayFailingAdapter:
    """Writes a status entry, then refuses: the refusal must leave no trace of the write."""

    channel_id = "status"
    idempotent: ClassVar[bool] = True

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def send(self, post: OutgoingPost) -> Posted:
        await StatusPageChannel("status", "https://status.example.test", self.session).send(post)
        raise PermanentChannelError("platform said 403: account suspended")
