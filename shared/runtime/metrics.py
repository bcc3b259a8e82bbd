"""Metrics every service exports beside its HTTP ones: its consumers (lag per topic and
group, dead letters per topic, records by outcome), its outbox and its readiness, and a
`Snapshot` for gauges that come from the database.

A gauge read from the database is computed by a supervised loop every
`METRICS_REFRESH_SECONDS` and served from that cache: a scrape costs no query, however often
it comes (several Prometheus replicas, a busy dashboard) and however loaded the database is.
The consumers' figures are in memory already and are read at the scrape.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from shared.contract.events import utcnow
from shared.runtime.consumer import EventConsumer
from shared.runtime.database import OutboxEntry
from shared.runtime.health import evaluate
from shared.runtime.service import Runtime

log = logging.getLogger(__name__)

Source = Callable[[], Awaitable[Iterable[Metric]]]
"""One round of database queries, returning finished metric families."""


def process_registry() -> CollectorRegistry:
    """A registry with the `process_*` and `python_*` collectors (CPU, memory, open files,
    garbage collection, the interpreter's version) beside the service's own metrics."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class Snapshot(Collector):
    """Families from the database, refreshed by `run` (a supervised loop), served on scrape.
    A source that fails keeps its last families and is tried again next round: a database
    outage leaves stale gauges, never a crashing loop."""

    def __init__(self, *, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self.sources: list[Source] = []
        self._families: dict[int, list[Metric]] = {}
        self.last_round_at: datetime | None = None

    def add(self, source: Source) -> None:
        self.sources.append(source)

    def collect(self) -> Iterator[Metric]:
        for families in list(self._families.values()):
            yield from families

    def describe(self) -> Iterable[Metric]:
        return ()  # not known before the first round; the registry need not check them

    async def refresh(self) -> None:
        for at, source in enumerate(self.sources):
            try:
                self._families[at] = list(await source())
            except Exception as exc:
                name = getattr(source, "__qualname__", source)
                log.warning("metrics from %s failed (%r); keeping the last figures", name, exc)
        self.last_round_at = utcnow()

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval_seconds)


class ConsumerCollector(Collector):
    """Each consumer loop's figures at scrape time, labelled by group and topic (both bounded:
    the topics and groups are the service's own)."""

    def __init__(self, consumers: Sequence[EventConsumer]) -> None:
        self.consumers = consumers

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "planb_consumer_lag_records",
            "Records on the broker not yet handed to the consumer, per topic and group",
            labels=["group", "topic"],
        )
        dead = CounterMetricFamily(
            "planb_consumer_dead_letters",
            "Records a consumer sent to its topic's dead-letter topic, per topic and group",
            labels=["group", "topic"],
        )
        records = CounterMetricFamily(
            "planb_consumer_records",
            "Records a consumer handled, skipped as duplicates or ignored (no handler)",
            labels=["group", "outcome"],
        )
        for consumer in self.consumers:
            group, stats = consumer.config.group_id, consumer.stats
            per_topic: dict[str, int] = dict.fromkeys(consumer.config.topics, 0)
            for tp, progress in stats.partitions.items():
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + (progress.lag or 0)
            for topic, behind in per_topic.items():
                lag.add_metric([group, topic], behind)
            for topic in consumer.config.topics:
                dead.add_metric([group, topic], stats.dead_letters.get(topic, 0))
            for outcome, count in (
                ("handled", stats.handled),
                ("duplicate", stats.duplicates),
                ("ignored", stats.ignored),
            ):
                records.add_metric([group, outcome], count)
        yield from (lag, dead, records)


def runtime_source(runtime: Runtime) -> Source:
    """The service's outbox (rows waiting, the oldest's age) and its readiness, as /readyz
    judges it, labelled by service."""
    service = runtime.settings.service_name

    async def families() -> list[Metric]:
        async with runtime.database.sessions() as session:
            query = select(func.count(), func.min(OutboxEntry.created_at))
            depth, oldest = (await session.execute(query)).one()
        state, _ = await evaluate(runtime.readiness())
        age = 0.0 if oldest is None else (utcnow() - oldest).total_seconds()
        return [
            _gauge("planb_outbox_depth", "Events waiting in the outbox for Kafka", service, depth),
            _gauge(
                "planb_outbox_oldest_age_seconds",
                "Age of the oldest event waiting in the outbox (0 when it is empty)",
                service,
                max(0.0, age),
            ),
            _gauge("planb_ready", "1 while /readyz answers 200", service, state != "unavailable"),
            _gauge(
                "planb_degraded",
                "1 while /readyz says degraded (a loop or Kafka in trouble)",
                service,
                state == "degraded",
            ),
        ]

    return families


def _gauge(name: str, documentation: str, service: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["service"])
    family.add_metric([service], float(value))
    return family
