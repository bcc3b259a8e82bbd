"""Stage timestamps along approve → published, so the slow stage is visible.

Each stage is observed as the seconds since the path began (the approval: a publish request's
`requested_at`), in a histogram labelled by stage in the service's own registry (/metrics).
The router and the publisher share that origin, so each stage's median lines up with the
others' into a waterfall. Listeners (the bench) receive every observation as it happens.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram

from shared.contract.events import PublishRequested, utcnow
from shared.runtime.database import OutboxEntry

STAGES = (
    "approved",  # router: the approve transaction committed
    "relay_sent",  # router: the outbox relay's send of the request acknowledged
    "consumed",  # publisher: its consumer handed the request to the handler
    "delivery_written",  # publisher: the delivery row committed
    "dispatcher_woke",  # publisher: the channel's dispatcher began the round that sends it
    "claimed",  # publisher: the claim (`sending`) committed
    "send_started",
    "send_finished",
    "settled",  # publisher: the outcome and its report committed
    "report_consumed",  # router: the `published` report recorded
)
"""In path order."""

Listener = Callable[[str, float], None]

BUCKETS = (
    0.001,
    0.0025,
    *(step / 200 for step in range(1, 61)),  # every 5 ms to 300 ms: a stage's p99 within 5 ms
    0.4,
    0.5,
    1.0,
    2.5,
    10.0,
)
"""Fine enough that a median and a p99 can be read back from the buckets (the bench does,
for services running as processes)."""


class Waterfall:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.seconds = Histogram(
            "planb_publish_stage_seconds",
            "Seconds from a publish request's approval to each stage of its path",
            ["stage"],
            registry=registry or CollectorRegistry(),
            buckets=BUCKETS,
        )
        self.listeners: list[Listener] = []

    def mark(self, stage: str, approved_at: datetime, *, at: datetime | None = None) -> None:
        """`stage` reached (now, or `at`) by a request approved at `approved_at`."""
        elapsed = max(0.0, ((at or utcnow()) - _aware(approved_at)).total_seconds())
        self.seconds.labels(stage).observe(elapsed)
        for listener in self.listeners:
            listener(stage, elapsed)


def _aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def relay_stage(topic: str, waterfall: Waterfall) -> Callable[[Sequence[OutboxEntry]], None]:
    """The outbox relay's `on_sent` for the router: each publish request on `topic`, timed
    from its staging (in the approve transaction, within a millisecond of the approval)."""
    marker = f'"{PublishRequested.event_type}"'.encode()

    def on_sent(rows: Sequence[OutboxEntry]) -> None:
        for row in rows:
            if row.topic == topic and marker in row.value:
                waterfall.mark("relay_sent", row.created_at)

    return on_sent
