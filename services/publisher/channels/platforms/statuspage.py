"""The built-in status page as a channel: publishing is a row in `status_entries`."""

from typing import ClassVar
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.protocol import OutgoingPost, PermanentChannelError, Posted
from services.publisher.models import StatusEntry, SubscriberFanout
from shared.contract.events import utcnow


def status_page_url(public_base_url: str, incident_id: str | None = None) -> str:
    """The public page, anchored at the incident's section when one is given."""
    url = f"{public_base_url.rstrip('/')}/status"
    return f"{url}#{quote(incident_id, safe='')}" if incident_id else url


class StatusPageChannel:
    """Writes in the delivery's own transaction (`session`), so the entry and its delivery
    commit together; one instance per delivery, built by the registry."""

    idempotent: ClassVar[bool] = True  # one entry per message id

    def __init__(self, channel_id: str, public_base_url: str, session: AsyncSession) -> None:
        self.channel_id = channel_id
        self.public_base_url = public_base_url
        self.session = session

    async def send(self, post: OutgoingPost) -> Posted:
        incident = post.incident
        if incident is None:
            raise PermanentChannelError(
                "the status page shows incident updates only; this has no incident"
            )
        entry = await self.session.scalar(
            select(StatusEntry).where(StatusEntry.message_id == post.idempotency_key)
        )
        if entry is None:
            entry = StatusEntry(
                incident_id=incident.incident_id,
                title=incident.title,
                severity=incident.severity.value,
                status=incident.status.value,
                message_id=post.idempotency_key,
                text=post.text,
                published_at=utcnow(),
                language=post.language,
            )
            self.session.add(entry)
            # the subscribers' copy is decided in the entry's own transaction: never lost
            fanout = SubscriberFanout(
                message_id=post.idempotency_key, incident_id=incident.incident_id
            )
            self.session.add(fanout)
            await self.session.flush()
        return Posted(
            remote_id=str(entry.id),
            url=status_page_url(self.public_base_url, incident.incident_id),
        )
