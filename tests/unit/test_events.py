"""The CloudEvents envelope and the event models: round trips and refusals."""

import json
import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contract.events import (
    EVENT_TYPES,
    BadEvent,
    CloudEvent,
    IncidentRaised,
    PublishRequested,
    PublishRequestedV2,
    Severity,
    derived_id,
    parse_event,
)

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


def raised() -> IncidentRaised:
    return IncidentRaised(
        incident_id="inc_0123456789abcdef0123",
        title="Trains stuck at Central",
        severity=Severity.SEV1,
        started_at=NOW,
        raised_by="dev-operator",
        raised_at=NOW,
    )


def test_round_trip_keeps_type_and_payload() -> None:
    event = CloudEvent.wrap(raised(), source="/planb/ingest", subject="inc_0123456789abcdef0123")
    parsed = parse_event(event.to_bytes())
    assert parsed.type == "planb.incident.raised.v1"
    assert parsed.id == event.id
    assert isinstance(parsed.data, IncidentRaised)
    assert parsed.data == event.data


def test_envelope_is_cloudevents_structured_json() -> None:
    body = json.loads(CloudEvent.wrap(raised(), source="/planb/ingest").to_bytes())
    assert body["specversion"] == "1.0"
    assert body["datacontenttype"] == "application/json"
    assert set(body) >= {"id", "source", "type", "time", "data"}
    assert body["data"]["title"] == "Trains stuck at Central"


def test_every_event_type_carries_a_version() -> None:
    assert all(re.fullmatch(r"planb\.[a-z]+\.[a-z]+\.v[1-9][0-9]*", t) for t in EVENT_TYPES)


def test_a_v1_publish_request_still_reads_and_v2_carries_its_languages() -> None:
    """Consumers take both while producers move to v2 (the contract's rule for a payload
    that an old consumer would refuse)."""
    fields = {
        "message_id": "m1",
        "channel_id": "c1",
        "kind": "status_update",
        "text": "Trains held.",
        "requested_at": "2026-11-21T14:00:00Z",
    }
    old = PublishRequestedV2.model_validate_json(PublishRequested(**fields).model_dump_json())
    new = PublishRequestedV2(**fields, languages=["fr", "nl"])

    assert old.languages == []
    assert parse_event(CloudEvent.wrap(new, source="/t").model_dump_json().encode()).data == new
    with pytest.raises(ValidationError):
        PublishRequested.model_validate_json(new.model_dump_json())  # why it is a new type


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "no value"),
        (b"not json", "not a CloudEvent"),
        (b'{"specversion": "1.0"}', "not a CloudEvent"),
        (
            b'{"specversion":"1.0","id":"1","source":"/x","type":"planb.nope.v1",'
            b'"time":"2026-11-21T14:00:00Z","data":{}}',
            "unknown event type 'planb.nope.v1'",
        ),
        (
            b'{"specversion":"1.0","id":"1","source":"/x","type":"planb.incident.raised.v1",'
            b'"time":"2026-11-21T14:00:00Z","data":{"incident_id":"x"}}',
            "invalid planb.incident.raised.v1 data: title: Field required",
        ),
    ],
)
def test_bad_records_are_refused_with_a_reason(raw: bytes | None, message: str) -> None:
    with pytest.raises(BadEvent, match=message):
        parse_event(raw)


def test_payloads_refuse_unknown_fields() -> None:
    body = json.loads(CloudEvent.wrap(raised(), source="/planb/ingest").to_bytes())
    body["data"]["surprise"] = 1
    with pytest.raises(BadEvent, match="surprise"):
        parse_event(json.dumps(body).encode())


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("evt-1", "pause", "north") == derived_id("evt-1", "pause", "north")
    assert derived_id("evt-1", "pause", "north") != derived_id("evt-1", "pause", "south")


def test_publish_requested_serialises_its_subclass_fields() -> None:
    request = PublishRequested(
        message_id="msg_1",
        channel_id="status",
        kind="status_update",
        text="We're on it.",
        requested_at=NOW,
    )
    parsed = parse_event(CloudEvent.wrap(request, source="/planb/router").to_bytes())
    assert isinstance(parsed.data, PublishRequested)
    assert parsed.data.text == "We're on it."
