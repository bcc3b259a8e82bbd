"""One incident, one trace: OpenTelemetry across HTTP, Kafka and the database hops between.

Off by default. `configure_tracing` turns it on when the standard OTLP settings name an
endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; the other
`OTEL_*` variables apply as the SDK defines them, `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` keep it off). Then:

- FastAPI's requests and httpx's calls are spans (OpenTelemetry's instrumentations), and an
  httpx call sends `traceparent`, so a platform's API sees the trace;
- an event carries the W3C trace context of the span that staged it inside its CloudEvents
  envelope (`traceparent`/`tracestate`, the distributed-tracing extension: `with_trace`),
  and the consumer handles it in a span that continues it (`handling`);
- where work crosses the database instead (an incident's draft approved by a person later,
  a delivery sent by the dispatcher's loop), the process remembers the span context that
  last touched the incident or the message (`remember`), and the later work continues that
  trace (`resumed`), linking the span it was started from (the duty manager's approval
  request). A restart, or another replica, has not seen it: that work then starts a trace
  of its own.
"""

import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind

from shared.contract.events import CloudEvent
from shared.runtime.logs import LOG_FIELDS, ids_of, log_ids

T = TypeVar("T")
R = TypeVar("R")
REMEMBERED = 10_000
"""Incidents and messages whose span context a process keeps (the most recent)."""


def tracing_wanted(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service: str, env: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The process's tracer provider exporting OTLP over HTTP, or None when tracing is off."""
    if not tracing_wanted(env):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    name = env.get("OTEL_SERVICE_NAME") or f"planb-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=_origin_only, async_request_hook=_async_origin_only
    )
    return provider


def _origin_only(span: trace.Span, request: Any) -> None:
    """A platform's URL may carry a secret in its path (Telegram's bot token, a Slack webhook)
    or its query: an outgoing call's span keeps the scheme, host and port only."""
    url = request.url
    origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    for attribute in ("url.full", "http.url"):
        span.set_attribute(attribute, origin)


def without_query(span: trace.Span, scope: dict[str, Any]) -> None:
    """A request's span keeps its path, not its query string (a sign-in callback's code)."""
    if scope.get("query_string") and span.is_recording():
        path = scope.get("path", "")
        host, port = scope.get("server") or ("", None)
        origin = f"{scope.get('scheme', 'http')}://{host}" + (f":{port}" if port else "")
        span.set_attribute("http.target", path)
        span.set_attribute("http.url", origin + path)
        span.set_attribute("url.query", "")


async def _async_origin_only(span: trace.Span, request: Any) -> None:
    _origin_only(span, request)


def _tracing() -> bool:
    """Whether `configure_tracing` set a provider (spans cost nothing to skip then)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _tracer() -> trace.Tracer:
    return trace.get_tracer("planb")


def with_trace(event: CloudEvent) -> CloudEvent:
    """`event` carrying the current span's trace context (unchanged when there is none)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return event
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" not in carrier:
        return event
    return event.model_copy(
        update={"traceparent": carrier["traceparent"], "tracestate": carrier.get("tracestate")}
    )


def in_this_trace(work: Callable[[T], Awaitable[R]]) -> Callable[[T], Awaitable[R]]:
    """`work` as another task will run it (a group commit's writer, for many requests at
    once), in the trace current here: the events it stages carry this request's context."""
    here = otel_context.get_current()

    async def run(argument: T) -> R:
        token = otel_context.attach(here)
        try:
            return await work(argument)
        finally:
            otel_context.detach(token)

    return run


def _context_of(event: CloudEvent) -> otel_context.Context | None:
    if not event.traceparent:
        return None
    carrier = {"traceparent": event.traceparent}
    if event.tracestate:
        carrier["tracestate"] = event.tracestate
    return propagate.extract(carrier)


class _Remembered:
    """The span context that last touched each id, the most recent REMEMBERED of them."""

    def __init__(self) -> None:
        self.contexts: OrderedDict[str, SpanContext] = OrderedDict()

    def put(self, key: str, context: SpanContext) -> None:
        if context.is_valid:
            self.contexts[key] = context
            self.contexts.move_to_end(key)
            while len(self.contexts) > REMEMBERED:
                self.contexts.popitem(last=False)

    def get(self, key: str) -> SpanContext | None:
        return self.contexts.get(key)


_remembered = _Remembered()


def remember(**ids: str | None) -> None:
    """The current span is the latest word on these ids (`incident_id=…`, `message_id=…`)."""
    context = trace.get_current_span().get_span_context()
    for name, value in ids.items():
        if value is not None:
            _remembered.put(f"{name}={value}", context)


@contextmanager
def handling(event: CloudEvent) -> Iterator[None]:
    """Around one event's handler: a consumer span continuing the trace the event carries,
    remembered for its incident and message; every line logged carries the event's id and
    the ids its payload names."""
    ids = {name: value for name, value in ids_of(event.data).items() if value is not None}
    if not _tracing():
        with log_ids(event_id=event.id, **ids):
            yield
        return
    attributes = {"messaging.system": "kafka", "messaging.message.id": event.id, **ids}
    with (
        log_ids(event_id=event.id, **ids),
        _tracer().start_as_current_span(
            f"handle {event.type}",
            context=_context_of(event),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ),
    ):
        remember(incident_id=ids.get("incident_id"), message_id=ids.get("message_id"))
        yield


@contextmanager
def handling_together(events: list[CloudEvent]) -> Iterator[None]:
    """Around a handler that takes a fetch's events at once: one span linked to each event's
    trace; each event's incident and message remembered with the trace the event carries,
    so what follows from it (an approval) continues that trace, not the batch's."""
    if not _tracing():
        yield
        return
    links = []
    for event in events:
        parent = _context_of(event)
        carried = trace.get_current_span(parent).get_span_context() if parent else None
        if carried is not None and carried.is_valid:
            links.append(Link(carried))
            ids = ids_of(event.data)
            for name in ("incident_id", "message_id"):
                if (value := ids.get(name)) is not None:
                    _remembered.put(f"{name}={value}", carried)
    with _tracer().start_as_current_span(
        f"handle {len(events)} events", kind=SpanKind.CONSUMER, links=links
    ):
        yield


@contextmanager
def resumed(name: str, **ids: str) -> Iterator[None]:
    """A span continuing the trace remembered for the first of `ids` that has one, linked to
    the span current now (a person's request, a loop's round); the ids bound for the log."""
    found = next(
        (c for k, v in ids.items() if (c := _remembered.get(f"{k}={v}")) is not None), None
    )
    here = trace.get_current_span().get_span_context()
    parent = None if found is None else trace.set_span_in_context(trace.NonRecordingSpan(found))
    links = [Link(here)] if found is not None and here.is_valid else []
    logged = {k: v for k, v in ids.items() if k in LOG_FIELDS}
    with (
        log_ids(**logged),
        _tracer().start_as_current_span(name, context=parent, links=links, attributes=ids),
    ):
        yield
