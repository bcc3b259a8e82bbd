"""Small parts of the observability work, without processes: an event's trace context
(the CloudEvents distributed-tracing extension) and the metrics snapshot's failures."""

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.contract.events import ChannelPaused, CloudEvent, parse_event
from shared.runtime.metrics import Snapshot

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def paused() -> CloudEvent:
    data = ChannelPaused(channel_id="promo", reason="sev1", paused_at=datetime.now(UTC))
    return CloudEvent.wrap(data, source="/tests")


def test_an_event_carries_its_trace_context_and_drops_a_malformed_one() -> None:
    plain = paused()
    assert b"traceparent" not in plain.to_bytes()  # absent while the producer does not trace
    traced = plain.model_copy(update={"traceparent": PARENT, "tracestate": "planb=1"})
    again = parse_event(traced.to_bytes())
    assert (again.traceparent, again.tracestate) == (PARENT, "planb=1")
    for bad in ("zz-" + PARENT[3:], PARENT.upper(), 42, PARENT + "-extra"):
        raw = traced.to_bytes().replace(f'"{PARENT}"'.encode(), _json(bad))
        assert parse_event(raw).traceparent is None  # still a good event, in a trace of its own


def _json(value: object) -> bytes:
    return f'"{value}"'.encode() if isinstance(value, str) else str(value).encode()


async def test_a_failing_source_keeps_its_last_figures_and_the_others_go_on() -> None:
    calls = {"n": 0}

    async def flaky() -> list[Metric]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("database gone")
        family = GaugeMetricFamily("planb_test_flaky", "test", labels=[])
        family.add_metric([], 7)
        return [family]

    async def steady() -> list[Metric]:
        family = GaugeMetricFamily("planb_test_steady", "test", labels=[])
        family.add_metric([], calls["n"])
        return [family]

    snapshot = Snapshot(interval_seconds=60)
    snapshot.add(flaky)
    snapshot.add(steady)
    registry = CollectorRegistry()
    registry.register(snapshot)
    assert b"planb_test" not in generate_latest(registry)  # nothing before the first round
    await snapshot.refresh()
    await snapshot.refresh()
    text = generate_latest(registry).decode()
    assert "planb_test_flaky 7.0" in text
    assert "planb_test_steady 2.0" in text
    assert snapshot.last_round_at is not None
