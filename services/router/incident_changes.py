"""What an incident event changes, shared by the handler of one event (incidents.py) and the
handler of a fetch's events together (incident_batch.py), so the two cannot drift apart."""

from datetime import datetime
from typing import Any, NamedTuple

from services.router.context import RouterContext
from services.router.drafting import next_update_at
from services.router.models import Incident
from shared.contract.events import IncidentRaised, IncidentUpdated, Severity, utcnow


class Entry(NamedTuple):
    """A timeline entry's kind, text and actor."""

    kind: str
    text: str
    actor: str | None


def timeline_row(incident_id: str, entry: Entry) -> dict[str, Any]:
    """The entry's `timeline` row."""
    return {
        "incident_id": incident_id,
        "kind": entry.kind,
        "text": entry.text,
        "actor": entry.actor,
        "at": utcnow(),
    }


def new_incident(data: IncidentRaised, *, now: datetime) -> Incident:
    """The router's row for a raised incident."""
    return Incident(
        id=data.incident_id,
        title=data.title,
        severity=data.severity.value,
        status=data.status.value,
        summary=data.summary,
        customer_impact=data.customer_impact,
        services=list(data.affected.services),
        regions=list(data.affected.regions),
        external_ref=data.external_ref,
        next_update_at=next_update_at(now, data.next_update_in_minutes),
        update_every_minutes=data.next_update_in_minutes,
        raised_by=data.raised_by,
        started_at=data.started_at,
        opened_at=now,
        updated_at=now,
        resolved_at=None,
    )


def apply_update(incident: Incident, data: IncidentUpdated, *, now: datetime) -> None:
    """What an update changes on the incident's row."""
    incident.status = data.status.value
    if data.severity is not None:
        incident.severity = data.severity.value
    if data.customer_impact is not None:
        incident.customer_impact = data.customer_impact
    if data.next_update_in_minutes is not None:
        incident.next_update_at = next_update_at(now, data.next_update_in_minutes)
        incident.update_every_minutes = data.next_update_in_minutes
    incident.updated_at = now
    incident.last_updated_by = data.updated_by


def raised_entry(data: IncidentRaised) -> Entry:
    return Entry("raised", f"{data.severity.value}: {data.title}", data.raised_by)


def updated_entry(data: IncidentUpdated) -> Entry:
    return Entry("updated", data.message or data.status.value, data.updated_by)


def paused_entry(paused: list[str]) -> Entry:
    return Entry("paused", "Marketing paused on " + ", ".join(paused), "policy")


def pause_reason(incident: Incident) -> str:
    return f"{incident.severity} incident {incident.id}: {incident.title}"


def pause_targets(ctx: RouterContext, incident: Incident) -> list[str]:
    """The channels the policy says this incident pauses."""
    targets = ctx.policy.channels_to_pause(
        Severity(incident.severity), incident.regions, ctx.channels, services=incident.services
    )
    return [c.id for c in targets]
