"""The publisher's per-channel metrics, in the app's registry (served on /metrics).

Labels are bounded: channels are those configured, outcomes the four delivery events.
"""

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.contract.events import DeliveryOutcome, utcnow
from shared.runtime.waterfall import Waterfall

LONG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Seconds, up to an hour: a post may wait out a platform's outage on the retry schedule."""


class PublisherMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.outcomes = Counter(
            "planb_publisher_deliveries",
            "Delivery outcomes by channel (published, retrying, failed, held)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "planb_publisher_send_seconds",
            "Time a platform took to take a post, retries within the attempt included",
            ["channel"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.breaker_open = Gauge(
            "planb_publisher_breaker_open",
            "1 while a channel's circuit breaker is open",
            ["channel"],
            registry=registry,
        )
        self.approved_to_published = Histogram(
            "planb_publisher_approved_to_published_seconds",
            "Seconds from a post's approval (or a marketing post's emission) to the platform "
            "taking it, retries included (channels the dispatcher sends to)",
            registry=registry,
            buckets=LONG_BUCKETS,
        )
        self.pause_seconds = Histogram(
            "planb_publisher_pause_seconds",
            "Seconds from the router's pause of a channel (as it recorded the incident) to the "
            "publisher holding the channel's marketing posts",
            registry=registry,
            buckets=LONG_BUCKETS,
        )
        self.waterfall = Waterfall(registry)
        """Approve → published, the publisher's stages (shared/runtime/waterfall.py)."""
        self.waterfall.listeners.append(self._stage)

    def channels(self, channel_ids: list[str]) -> None:
        """Every network channel's breaker series from the start (closed), not from its first
        send: an alert on it needs the series to exist."""
        for channel_id in channel_ids:
            self.breaker_open.labels(channel_id).set(0)

    def settled_here(self, outcome: DeliveryOutcome) -> None:
        """An outcome settled in the consumer's transaction (held, or an in-process channel)."""
        self.outcomes.labels(outcome.channel_id, outcome.event_type.split(".")[2]).inc()

    def paused(self, paused_at: datetime) -> None:
        self.pause_seconds.observe(max(0.0, (utcnow() - paused_at).total_seconds()))

    def _stage(self, stage: str, elapsed: float) -> None:
        if stage == "settled":  # marked only once a post was taken (dispatch.py)
            self.approved_to_published.observe(elapsed)
