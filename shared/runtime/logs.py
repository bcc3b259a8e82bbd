"""One logging set-up for every process: one line per record on stderr, as text or JSON.

`LOG_FORMAT=json` writes one JSON object per line (python-json-logger) with `timestamp`
(ISO 8601, date and zone), `level`, `service`, `logger`, `message`, and the ids of what
the line concerns (`incident_id`, `message_id`, `draft_id`, `channel_id`, `event_id`) as
fields of their own, so a log store can answer "every line about incident X". The ids come
from `log_ids(...)` around the work (a context variable: the consumer binds each record's
event and the ids its payload carries) or from `extra=` on the call; the trace and span ids
too while tracing is on. The text format has the same timestamp and the ids at the end.
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, TextIO

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
LOG_FIELDS = ("incident_id", "message_id", "draft_id", "channel_id", "event_id")
"""The ids a line may concern, in the order the text format appends them."""
TRACE_FIELDS = ("trace_id", "span_id")

_NONE: Mapping[str, str] = MappingProxyType({})
_ids: ContextVar[Mapping[str, str]] = ContextVar("planb_log_ids", default=_NONE)


@contextmanager
def log_ids(**ids: str | None) -> Iterator[None]:
    """Every line logged inside (in this task and those it starts) carries `ids`."""
    token = _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def ids_of(payload: object) -> dict[str, str | None]:
    """The ids among LOG_FIELDS that an event's payload carries (`event_id` aside); a
    request to publish names its incident inside `incident`."""
    ids = {name: getattr(payload, name, None) for name in LOG_FIELDS[:-1]}
    if ids["incident_id"] is None and (incident := getattr(payload, "incident", None)):
        ids["incident_id"] = getattr(incident, "incident_id", None)
    return ids


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class _Ids(logging.Filter):
    """Puts the bound ids on the record (an `extra=` of the same name wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _ids.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = trace.format_trace_id(span.trace_id)
            record.span_id = trace.format_span_id(span.span_id)
        return True


class _Text(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s [{service}] %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{n}={getattr(record, n)}" for n in LOG_FIELDS if hasattr(record, n)]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


class _Json(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)


def _formatter(log_format: LogFormat, service: str) -> logging.Formatter:
    if log_format == "text":
        return _Text(service)
    return _Json(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
        reserved_attrs=[*RESERVED_ATTRS, "color_message", "taskName"],
    )


class _PlanBHandler(logging.StreamHandler[TextIO]):
    """Plan B's own handler, so configuring twice (tests, the supervisor) adds it once."""


def configure_logging(
    level: str = "INFO", service: str = "planb", log_format: LogFormat = "text"
) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _PlanBHandler)), None)
    if handler is None:
        handler = _PlanBHandler()
        handler.addFilter(_Ids())
        root.addHandler(handler)
    handler.setFormatter(_formatter(log_format, service))
    root.setLevel(level.upper())
    # uvicorn's own lines (startup, errors) through the same handler, in the same format
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs request URLs at INFO; Telegram and Slack URLs carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
