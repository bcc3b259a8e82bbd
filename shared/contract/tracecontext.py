"""The CloudEvents distributed-tracing extension: an event's W3C trace context.

The span that produced an event puts its `traceparent` (and `tracestate`) on the envelope,
so whoever consumes the event continues the same trace (shared/runtime/tracing.py). Both are
absent when the producer does not trace. A malformed one is dropped, as W3C Trace Context
says to: the event is still good, it only starts a trace of its own.
"""

import re
from typing import Any

from pydantic import BaseModel, field_validator

TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
"""Version, trace id, parent span id, flags (lower-case hex)."""
TRACESTATE_MAX = 512


class TraceContext(BaseModel):
    traceparent: str | None = None
    tracestate: str | None = None

    @field_validator("traceparent", mode="before")
    @classmethod
    def _parent(cls, value: Any) -> str | None:
        return value if isinstance(value, str) and TRACEPARENT.fullmatch(value) else None

    @field_validator("tracestate", mode="before")
    @classmethod
    def _state(cls, value: Any) -> str | None:
        fits = isinstance(value, str) and len(value) <= TRACESTATE_MAX
        return value if fits else None
