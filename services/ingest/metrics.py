"""Ingest's own metrics, registered in the app's registry (served on /metrics).

Rejections by reason are `planb_http_problems_total{service="ingest",status,type}`.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "planb_ingest_events",
            "Incident events taken in, by outcome (accepted, queued, replayed, unchanged)",
            ["outcome"],
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "planb_ingest_outbox_depth",
            "Events waiting in the local outbox for Kafka",
            registry=registry,
        )
        self.produce_seconds = Histogram(
            "planb_ingest_produce_seconds",
            "Time for Kafka to acknowledge an incident event (acks=all)",
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.commit_batch = Histogram(
            "planb_ingest_commit_batch_requests",
            "Requests whose writes one transaction committed (ingest's group commit)",
            registry=registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
