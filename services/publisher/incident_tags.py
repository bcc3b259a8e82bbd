"""The publisher's second consumer (`<prefix>-publisher-incidents` on `planb.incidents`): it
keeps what each incident affects, which `planb.publish.requested.v1` does not carry. The
status page's components and the subscribers an update goes to are chosen by these tags;
updates and resolutions are skipped (the status page's own entries say when it ended).
"""

from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.models import IncidentTags
from shared.contract.events import CloudEvent, IncidentRaised, utcnow
from shared.runtime.consumer import Handler, payload_of


async def on_incident_raised(event: CloudEvent, session: AsyncSession) -> None:
    raised = payload_of(event, IncidentRaised)
    row = await session.get(IncidentTags, raised.incident_id)
    if row is None:
        row = IncidentTags(incident_id=raised.incident_id)
        session.add(row)
    row.services = list(raised.affected.services)
    row.regions = list(raised.affected.regions)
    row.updated_at = utcnow()


def incident_tag_handlers() -> dict[str, Handler]:
    return {IncidentRaised.event_type: on_incident_raised}
