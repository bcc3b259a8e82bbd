"""The AsyncAPI 3.0 document of Plan B's Kafka topics, generated from `shared.contract.events`.

    python -m shared.devtools.asyncapi > docs/asyncapi.yaml        (`make docs`)

Topics, keys, producers and consumers are docs/design.md's table (`TOPICS` below); payload
schemas come from the pydantic models, so `tests/unit/test_docs_generated.py` fails when a
model changes and the document was not regenerated.
"""

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from shared.contract.events import (
    EVENT_TYPES,
    AuditRecorded,
    ChannelPaused,
    ChannelResumed,
    DeliveryFailed,
    DeliveryHeld,
    DeliveryPublished,
    DeliveryRetrying,
    EventData,
    IncidentRaised,
    IncidentResolved,
    IncidentUpdated,
    MaintenanceChanged,
    PublishRequested,
    PublishRequestedV2,
)
from shared.contract.topics import Topics
from shared.runtime.kafka import CONTENT_TYPE_HEADER

SCHEMAS = "#/components/schemas/"
KAFKA_BINDING = "0.5.0"


@dataclass(frozen=True)
class Topic:
    name: str  # the channel id in the document, and the `Topics` property
    key: str
    summary: str
    events: tuple[type[EventData], ...]
    producers: tuple[str, ...]
    consumers: tuple[tuple[str, str], ...]  # (service, consumer group without the prefix)


TOPICS = (
    Topic(
        "incidents",
        "incident id",
        "Incidents raised, updated and resolved by operators or Alertmanager.",
        (IncidentRaised, IncidentUpdated, IncidentResolved),
        ("ingest",),
        (("router", "router-incidents"), ("publisher", "publisher-incidents")),
    ),
    Topic(
        "outbound",
        "channel id (a pause and the posts it fences share a partition); planned works': theirs",
        "Publication requests, channel pauses/resumes and planned works as they stand.",
        (PublishRequested, PublishRequestedV2, ChannelPaused, ChannelResumed, MaintenanceChanged),
        ("router",),
        (("publisher", "publisher"),),
    ),
    Topic(
        "deliveries",
        "message id",
        "What became of each requested message: published, failed, held, retrying.",
        (DeliveryPublished, DeliveryFailed, DeliveryHeld, DeliveryRetrying),
        ("publisher",),
        (("router", "router-deliveries"),),
    ),
    Topic(
        "audit",
        "entity id",
        "Who did what, when (pauses, resumes, edits, approvals); retained for audit.",
        (AuditRecorded,),
        ("router",),
        (),
    ),
)

CLOUDEVENT_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes, JSON structured mode (one JSON object per "
    "record, `data` inline). Consumers skip an `id` they have handled (inbox table).",
    "required": ["specversion", "id", "source", "type", "time", "data"],
    "properties": {
        "specversion": {"const": "1.0", "description": "CloudEvents version."},
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Unique per event; a redelivery carries the same id. Derived "
            "events use a stable UUIDv5 of their cause, so a re-run yields the same id.",
        },
        "source": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "The producing service: `/planb/ingest`, `/planb/router` or "
            "`/planb/publisher`.",
        },
        "type": {
            "type": "string",
            "description": "`planb.<entity>.<what>.v<schema version>`; names the `data` schema.",
        },
        "time": {
            "type": "string",
            "format": "date-time",
            "description": "When the event happened, RFC 3339 with a UTC offset.",
        },
        "subject": {
            "type": "string",
            "description": "The entity the event is about (incident, channel or message id); "
            "usually the record key.",
        },
        "datacontenttype": {
            "const": "application/json",
            "description": "Always JSON; omitted means the same.",
        },
        "traceparent": {
            "type": "string",
            "description": "The CloudEvents distributed-tracing extension: the W3C trace "
            "context of the span that staged the event; only while the producer traces.",
        },
        "tracestate": {"type": "string", "description": "W3C `tracestate`, with `traceparent`."},
        "data": {"type": "object", "description": "The payload named by `type`."},
    },
}

DLQ_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The failed record's own headers, plus why and where it failed.",
    "properties": {
        "planb-error": {"type": "string", "description": "Why it was not handled."},
        "planb-source-topic": {"type": "string"},
        "planb-consumer-group": {"type": "string", "description": "The group that failed."},
        "planb-source-partition": {"type": "string", "description": "As decimal text."},
        "planb-source-offset": {"type": "string", "description": "As decimal text."},
        "planb-failed-at": {"type": "string", "format": "date-time"},
    },
}


def document(topics: Topics | None = None, partitions: int = 8) -> dict[str, Any]:
    """The whole AsyncAPI document as plain data (what `main` prints as YAML)."""
    topics = topics or Topics()
    _check_every_event_has_a_topic()
    payloads, definitions = models_json_schema(
        [(event, "validation") for t in TOPICS for event in t.events],
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = {"CloudEventAttributes": CLOUDEVENT_ATTRIBUTES}
    schemas.update(definitions["$defs"])
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        address = getattr(topics, topic.name)
        names = []
        for event in topic.events:
            name = event.__name__
            names.append(name)
            messages[name] = _message(event, topic, payloads[(event, "validation")])
        channels[topic.name] = {
            "address": address,
            "title": address,
            "description": f"{topic.summary} Key: {topic.key}.",
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {
                "kafka": {
                    "topic": address,
                    "partitions": partitions,
                    "replicas": 3,
                    "topicConfiguration": {"cleanup.policy": ["delete"]},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        channels[f"{topic.name}Dlq"] = {
            "address": Topics.dlq(address),
            "title": Topics.dlq(address),
            "description": f"Records from `{address}` a consumer could not parse or handle, "
            "copied byte for byte with the error in headers; the consumer moved on.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        }
        for service in topic.producers:
            operations[f"{service}Sends{topic.name.title()}"] = _operation(
                "send", service, topic, names=names
            )
        for service, group in topic.consumers:
            operations[f"{service}Receives{topic.name.title()}"] = _operation(
                "receive", service, topic, names=names, group=f"{topics.prefix}-{group}"
            )
    messages["DeadLetter"] = {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A record that could not be parsed or handled, with the reason.",
        "contentType": "application/octet-stream",
        "headers": DLQ_HEADERS,
        "payload": {"description": "The original record's value, unchanged."},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Plan B events",
            "version": "1",
            "description": "Kafka topics between ingest, router and publisher. Every record is "
            "a CloudEvents 1.0 JSON envelope whose `type` names its versioned `data` schema. "
            "Delivery is at least once; consumers are idempotent by event id. Generated "
            "from `shared/contract/events.py` by `python -m shared.devtools.asyncapi`; "
            "do not edit by hand.",
        },
        "defaultContentType": CONTENT_TYPE_HEADER[1].decode(),
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KRaft); `KAFKA_BOOTSTRAP_SERVERS` picks it. "
                "Topic names carry `TOPIC_PREFIX` (default `planb`).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _message(event: type[EventData], topic: Topic, data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": event.event_type,
        "title": event.__name__,
        "summary": (event.__doc__ or topic.summary).strip().splitlines()[0],
        "contentType": CONTENT_TYPE_HEADER[1].decode(),
        "headers": {
            "type": "object",
            "properties": {"content-type": {"const": CONTENT_TYPE_HEADER[1].decode()}},
        },
        "payload": {
            "allOf": [
                {"$ref": SCHEMAS + "CloudEventAttributes"},
                {
                    "type": "object",
                    "properties": {"type": {"const": event.event_type}, "data": data_schema},
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": topic.key},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _operation(
    action: str, service: str, topic: Topic, *, names: list[str], group: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic.name}"},
        "title": f"{service} {action}s {topic.name}",
        "messages": [{"$ref": f"#/channels/{topic.name}/messages/{n}"} for n in names],
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "const": group},
                "bindingVersion": KAFKA_BINDING,
            }
        }
    return operation


def _check_every_event_has_a_topic() -> None:
    listed = [event.event_type for t in TOPICS for event in t.events]
    missing = sorted(set(EVENT_TYPES) - set(listed))
    if missing or len(listed) != len(set(listed)):
        raise ValueError(f"every event type belongs to one topic in TOPICS; missing {missing}")


def render() -> str:
    header = (
        "# Generated by `python -m shared.devtools.asyncapi` (make docs) "
        "from shared/contract/events.py.\n"
    )
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def main() -> int:
    print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
