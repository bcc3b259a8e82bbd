"""The publisher's per-channel metrics, in the app's registry (served on /metrics)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.runtime.waterfall import Waterfall


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
        self.waterfall = Waterfall(registry)
        """Approve → published, the publisher's stages (shared/runtime/waterfall.py)."""
