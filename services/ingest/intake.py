"""Turning accepted requests into events on `planb.incidents`, never losing one.

An event is acknowledged by Kafka before the caller hears 202 `accepted`; when Kafka is
unreachable (or events are already waiting) it is committed to the local outbox and the
caller hears 202 `queued`. Queuing behind a non-empty outbox keeps an incident's events in
order.
"""

import asyncio
import logging
import uuid
from typing import Literal

from aiokafka.errors import KafkaError

from services.ingest.schemas import IncidentCreate, IncidentUpdateIn
from shared.auth import Principal
from shared.events import (
    CloudEvent,
    EventData,
    IncidentRaised,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    utcnow,
)
from shared.outbox import add_to_outbox
from shared.runtime import Runtime

log = logging.getLogger(__name__)

SOURCE = "/planb/ingest"
Outcome = Literal["accepted", "queued"]


def new_incident_id() -> str:
    return "inc_" + uuid.uuid4().hex[:20]


def incident_raised(incident_id: str, body: IncidentCreate, by: Principal) -> IncidentRaised:
    now = utcnow()
    return IncidentRaised(
        incident_id=incident_id,
        title=body.title,
        severity=body.severity,
        status=body.status,
        summary=body.summary,
        affected=body.affected,
        customer_impact=body.customer_impact,
        next_update_in_minutes=body.next_update_in_minutes,
        started_at=body.started_at or now,
        external_ref=body.external_ref,
        raised_by=by.name,
        raised_at=now,
    )


def incident_changed(incident_id: str, body: IncidentUpdateIn, by: Principal) -> EventData:
    now = utcnow()
    if body.status is IncidentStatus.RESOLVED:
        return IncidentResolved(
            incident_id=incident_id,
            message=body.message,
            customer_impact=body.customer_impact,
            resolved_by=by.name,
            resolved_at=now,
        )
    return IncidentUpdated(
        incident_id=incident_id,
        status=body.status,
        message=body.message,
        customer_impact=body.customer_impact,
        severity=body.severity,
        next_update_in_minutes=body.next_update_in_minutes,
        updated_by=by.name,
        updated_at=now,
    )


async def submit(
    runtime: Runtime, incident_id: str, data: EventData, send_timeout: float
) -> tuple[CloudEvent, Outcome]:
    """Send the event to Kafka, or commit it to the outbox when Kafka can't take it now."""
    event = CloudEvent.wrap(data, source=SOURCE, subject=incident_id)
    topic = runtime.topics.incidents
    if runtime.producer.connected.is_set() and await runtime.relay.depth() == 0:
        try:
            await asyncio.wait_for(
                runtime.producer.publish(topic, incident_id, event), send_timeout
            )
            return event, "accepted"
        except (KafkaError, TimeoutError) as exc:
            log.warning("incident %s: Kafka send failed (%s); queueing", incident_id, exc)
    async with runtime.database.transaction() as session:
        add_to_outbox(session, topic, incident_id, event)
    runtime.relay.wake()
    return event, "queued"
