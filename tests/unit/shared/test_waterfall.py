"""The approve → published waterfall: each stage observed once, under its name, in the
service's registry, and told to listeners (the bench)."""

from datetime import timedelta

from prometheus_client import CollectorRegistry

from shared.contract.events import CloudEvent, MessageKind, PublishRequested, utcnow
from shared.runtime.database import OutboxEntry
from shared.runtime.waterfall import Waterfall, relay_stage


def _count(registry: CollectorRegistry, stage: str) -> float | None:
    return registry.get_sample_value("planb_publish_stage_seconds_count", {"stage": stage})


def test_a_stage_is_observed_since_the_approval_and_told_to_listeners() -> None:
    registry = CollectorRegistry()
    waterfall = Waterfall(registry)
    heard: list[tuple[str, float]] = []
    waterfall.listeners.append(lambda stage, seconds: heard.append((stage, seconds)))
    approved_at = utcnow()
    waterfall.mark("claimed", approved_at, at=approved_at + timedelta(milliseconds=250))
    assert heard == [("claimed", 0.25)]
    assert _count(registry, "claimed") == 1
    assert (
        registry.get_sample_value("planb_publish_stage_seconds_sum", {"stage": "claimed"}) == 0.25
    )


def test_the_relay_stage_times_publish_requests_on_its_topic_only() -> None:
    registry = CollectorRegistry()
    on_sent = relay_stage("p.outbound", Waterfall(registry))
    request = PublishRequested(
        message_id="m1",
        channel_id="c1",
        kind=MessageKind.STATUS_UPDATE,
        text="Delays",
        requested_at=utcnow(),
    )
    value = CloudEvent.wrap(request, source="/test").to_bytes()
    rows = [
        OutboxEntry(topic="p.outbound", key="c1", value=value, created_at=utcnow()),
        OutboxEntry(topic="p.deliveries", key="m1", value=value, created_at=utcnow()),
        OutboxEntry(topic="p.outbound", key="c1", value=b'{"type": "other"}', created_at=utcnow()),
    ]
    on_sent(rows)
    assert _count(registry, "relay_sent") == 1
