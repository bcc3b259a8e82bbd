"""The CloudEvents 1.0 envelope every record travels in, apart from the payloads it carries
(`events.py`, which re-exports all of this), so the contract's payload list stays readable."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from shared.contract.tracecontext import TraceContext
from shared.contract.validation import summarise


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base of every payload; `event_type` is the CloudEvents `type` it travels under."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]


class BadEvent(ValueError):
    """A record that is not a valid Plan B CloudEvent; it belongs on the dead-letter topic."""


class CloudEvent(TraceContext):
    """CloudEvents 1.0 structured-mode envelope (JSON), with the distributed-tracing extension."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: SerializeAsAny[EventData]

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset")
        return value

    @classmethod
    def wrap(
        cls, data: EventData, *, source: str, subject: str | None = None, id: str | None = None
    ) -> Self:
        """Envelope `data` under its own type; pass `id` to make a derived event deterministic."""
        fields: dict[str, Any] = {"source": source, "type": data.event_type, "subject": subject}
        if id is not None:
            fields["id"] = id
        return cls(data=data, **fields)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def open_envelope(raw: bytes | None, types: Mapping[str, type[EventData]]) -> CloudEvent:
    """Decode a structured-mode CloudEvent and validate its `data` against its type's model
    in `types` (`events.parse_event` passes the contract's)."""
    if raw is None:
        raise BadEvent("record has no value")
    try:
        envelope = _RawEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise BadEvent(f"not a CloudEvent: {summarise(exc)}") from exc
    model = types.get(envelope.type)
    if model is None:
        raise BadEvent(f"unknown event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise BadEvent(f"invalid {envelope.type} data: {summarise(exc)}") from exc
    fields = envelope.model_dump(exclude={"data"})
    return CloudEvent(data=data, **fields)


def derived_id(*parts: str) -> str:
    """A stable event id from its causes, so a redelivered cause yields the same event."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "planb:" + ":".join(parts)))


class _RawEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
