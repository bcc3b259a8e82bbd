"""Prometheus Alertmanager webhook (payload version 4) → incidents.

One incident per group key (stored as a digest), its `external_ref` naming the group and
linking back to Alertmanager (`group_ref`): the first firing notification raises it,
a later one with a different set of firing alerts (or a higher severity) updates it, a repeat
of the same set changes nothing (`unchanged`), and a resolved notification resolves it.
Labels map to severity, services and regions through `config/alertmanager.yaml`.
"""

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import incidents
from services.ingest.intake import Intake
from services.ingest.models import AlertGroup, IncidentRecord
from services.ingest.schemas import Accepted, IncidentCreate, IncidentUpdateIn
from shared.contract.config_files import load_yaml_model
from shared.contract.events import (
    Affected,
    IncidentStatus,
    IncidentUpdated,
    Instant,
    Severity,
    utcnow,
)
from shared.runtime.database import lock_key
from shared.web.auth import Principal

Labels = dict[str, str]
_GROUPS = "planb_ingest_alert_groups"
"""session.info: the groups this transaction raised an incident for, by digest."""


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: Labels = Field(default_factory=dict, max_length=100)
    annotations: Labels = Field(default_factory=dict, max_length=100)
    startsAt: Instant
    endsAt: Instant | None = None
    generatorURL: str | None = Field(default=None, max_length=2000)
    fingerprint: str | None = Field(default=None, max_length=100)


class AmWebhook(BaseModel):
    """Alertmanager's webhook body, version 4 (unknown fields are ignored, as it may add some)."""

    model_config = ConfigDict(extra="ignore")
    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=10_000)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(default="", max_length=500)
    groupLabels: Labels = Field(default_factory=dict, max_length=100)
    commonLabels: Labels = Field(default_factory=dict, max_length=100)
    commonAnnotations: Labels = Field(default_factory=dict, max_length=100)
    externalURL: str = Field(default="", max_length=2000)
    alerts: list[AmAlert] = Field(min_length=1, max_length=1000)


class AlertMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity_label: str = "severity"
    severity_map: dict[str, Severity] = Field(
        default_factory=lambda: {
            "critical": Severity.SEV1,
            "error": Severity.SEV2,
            "warning": Severity.SEV3,
            "info": Severity.SEV4,
        }
    )
    default_severity: Severity = Severity.SEV3
    service_labels: list[str] = Field(default_factory=lambda: ["service", "job"])
    region_labels: list[str] = Field(default_factory=lambda: ["region"])
    title_annotations: list[str] = Field(default_factory=lambda: ["summary", "title"])
    summary_annotations: list[str] = Field(default_factory=lambda: ["description"])
    next_update_in_minutes: int = Field(default=30, ge=5, le=1440)

    def severity_of(self, labels: Labels) -> Severity:
        value = labels.get(self.severity_label, "").lower()
        lowered = {k.lower(): v for k, v in self.severity_map.items()}
        return lowered.get(value, self.default_severity)


def load_mapping(path: Path) -> AlertMapping:
    """The mapping in `path`, or the built-in one when the file is absent."""
    return load_yaml_model(path, AlertMapping, default=AlertMapping())


def _first(sources: list[Labels], names: list[str]) -> str | None:
    for name in names:
        for source in sources:
            if source.get(name):
                return source[name]
    return None


def _tag(value: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._:/-" else "-" for c in value.strip())[:64]
    return cleaned.lstrip("._:/-") or "unknown"


def _severity(mapping: AlertMapping, firing: list[AmAlert]) -> Severity:
    return min((mapping.severity_of(a.labels) for a in firing), default=mapping.default_severity)


def _digest(firing: list[AmAlert], severity: Severity) -> str:
    keys = sorted(a.fingerprint or repr(sorted(a.labels.items())) for a in firing)
    return hashlib.sha256("|".join([severity.value, *keys]).encode()).hexdigest()


def incident_from(
    payload: AmWebhook, mapping: AlertMapping, firing: list[AmAlert]
) -> IncidentCreate:
    """The incident an alert group describes, in the operators' API terms."""
    sources = [payload.commonAnnotations, *[a.annotations for a in firing]]
    labels = [payload.commonLabels, payload.groupLabels, *[a.labels for a in firing]]
    title = _first(sources, mapping.title_annotations) or _first(labels, ["alertname"]) or "Alert"
    services = sorted(
        {_tag(v) for a in firing if (v := _first([a.labels], mapping.service_labels))}
    )
    regions = sorted({_tag(v) for a in firing if (v := _first([a.labels], mapping.region_labels))})
    return IncidentCreate(
        title=title[:200],
        severity=_severity(mapping, firing),
        summary=(_first(sources, mapping.summary_annotations) or "")[:2000] or None,
        affected=Affected(services=services[:50], regions=regions[:50]),
        next_update_in_minutes=mapping.next_update_in_minutes,
        started_at=min(a.startsAt for a in firing),
        external_ref=group_ref(payload, firing),
    )


def group_ref(payload: AmWebhook, firing: list[AmAlert]) -> str:
    """The group as a person knows it, in Alertmanager's own matcher notation
    (`{alertname="DiskFull",instance="a"}`: its alertname, then its group labels): a link to
    that group in Alertmanager's UI (`externalURL`) when the link fits in 200 characters,
    else `alertmanager:` and the group, cut to 200. Two alert groups never look alike."""
    labels = dict(sorted(payload.groupLabels.items()))
    alertname = labels.pop("alertname", None) or _first(
        [payload.commonLabels, *[a.labels for a in firing]], ["alertname"]
    )
    pairs = ([("alertname", alertname)] if alertname else []) + list(labels.items())
    group = "{" + ",".join(f'{name}="{value}"' for name, value in pairs) + "}"
    base = payload.externalURL.rstrip("/")
    if base.startswith(("http://", "https://")):
        link = f"{base}/#/alerts?filter={group}"
        if len(link) <= 200:
            return link
    return f"alertmanager:{group}"[:200]


async def handle_notification(
    intake: Intake,
    session: AsyncSession,
    *,
    payload: AmWebhook,
    mapping: AlertMapping,
    by: Principal,
) -> Accepted:
    group_digest = hashlib.sha256(payload.groupKey.encode()).hexdigest()
    await lock_key(session, f"alert-group:{group_digest}")  # a group's first alerts race
    group, record = await _group_and_incident(session, group_digest)
    batch: dict[str, tuple[AlertGroup, IncidentRecord]] = session.info.setdefault(_GROUPS, {})
    firing = [a for a in payload.alerts if a.status == "firing"]
    now = utcnow()
    if payload.status == "resolved" or not firing:
        if record is None or not record.open:
            return _unchanged(record.id if record else None)
        body = IncidentUpdateIn(
            status=IncidentStatus.RESOLVED, message="All alerts in the group resolved."
        )
        return await incidents.update_incident(
            intake, session, incident_id=record.id, body=body, by=by
        )
    severity = _severity(mapping, firing)
    digest = _digest(firing, severity)
    if record is None or not record.open:
        answer, record = await incidents.raise_record(
            intake,
            session,
            body=incident_from(payload, mapping, firing),
            by=by,
            source="alertmanager",
            alert_digest=digest,
        )
        if group is None:
            group = AlertGroup(group_key_digest=group_digest, incident_id=record.id)
            session.add(group)
        else:
            group.incident_id = record.id
        batch[group_digest] = (group, record)
        return answer
    if record.alert_digest == digest:
        return _unchanged(record.id)
    names = sorted({a.labels.get("alertname", "alert") for a in firing})
    raised = Severity(record.severity) > severity  # "sev1" < "sev2": lower is worse
    data = IncidentUpdated(
        incident_id=record.id,
        status=IncidentStatus(record.status),
        message=f"{len(firing)} alert(s) firing: {', '.join(names)[:500]}",
        severity=severity if raised else None,
        updated_by=by.name,
        updated_at=now,
    )
    record.alert_digest = digest
    record.updated_at = now
    if raised:
        record.severity = severity.value
    event, outcome = await intake.submit(session, record.id, data)
    return Accepted(incident_id=record.id, event_id=event.id, status=outcome, received_at=now)


async def _group_and_incident(
    session: AsyncSession, group_digest: str
) -> tuple[AlertGroup | None, IncidentRecord | None]:
    """The group (row-locked) and its incident, in one query: each is a round trip (on
    SQLite a hop to its thread and back), the main cost of a notification in a storm.

    Without flushing what the batch's earlier requests wrote, so that is written once for
    all: a group this batch raised an incident for is taken from the batch's own note of it
    (its rows may not be written yet), and any other row this batch changed is the one the
    session already holds (a query does not overwrite it)."""
    noted: dict[str, tuple[AlertGroup, IncidentRecord]] = session.info.get(_GROUPS, {})
    if group_digest in noted:
        return noted[group_digest]
    with session.no_autoflush:
        found = (
            await session.execute(
                select(AlertGroup, IncidentRecord)
                .outerjoin(IncidentRecord, IncidentRecord.id == AlertGroup.incident_id)
                .where(AlertGroup.group_key_digest == group_digest)
                .with_for_update(of=AlertGroup)
            )
        ).first()
    return (found[0], found[1]) if found is not None else (None, None)


def _unchanged(incident_id: str | None) -> Accepted:
    """A repeated notification: nothing new to tell customers."""
    return Accepted(
        incident_id=incident_id, event_id=None, status="unchanged", received_at=utcnow()
    )
