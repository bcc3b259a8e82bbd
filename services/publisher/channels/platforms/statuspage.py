"""The built-in status page as a channel: publishing is a row in `status_entries`."""

from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.base import ChannelError, Sent
from services.publisher.models import StatusEntry
from shared.contract.events import PublishRequested, utcnow


def status_page_url(public_base_url: str, incident_id: str | None = None) -> str:
    """The public page, anchored at the incident's section when one is given."""
    url = f"{public_base_url.rstrip('/')}/status"
    return f"{url}#{quote(incident_id, safe='')}" if incident_id else url


class StatusPageAdapter:
    """Writes in the delivery's own transaction, so the entry and its delivery commit together."""

    def __init__(self, public_base_url: str) -> None:
        self.public_base_url = public_base_url

    async def send(self, message: PublishRequested, session: AsyncSession) -> Sent:
        incident = message.incident
        if incident is None:
            raise ChannelError("the status page shows incident updates only; this has no incident")
        entry = await session.scalar(
            select(StatusEntry).where(StatusEntry.message_id == message.message_id)
        )
        if entry is None:
            entry = StatusEntry(
                incident_id=incident.incident_id,
                title=incident.title,
                severity=incident.severity.value,
                status=incident.status.value,
                message_id=message.message_id,
                text=message.text,
                published_at=utcnow(),
            )
            session.add(entry)
            await session.flush()
        return Sent(
            remote_id=str(entry.id),
            url=status_page_url(self.public_base_url, incident.incident_id),
        )
