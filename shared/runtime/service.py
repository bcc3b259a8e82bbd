"""The long-lived parts a service runs on, wired once in its lifespan (the `bootstrap()`).

A `Runtime` owns the database, the Kafka producer, the outbox relay and any consumer loops,
starts every loop under its supervisor (`supervision.py`: restarted when it crashes), answers
/healthz and /readyz, and stops them in reverse order on shutdown.
"""

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from sqlalchemy import MetaData

from shared.contract.topics import Topics
from shared.runtime import migrations
from shared.runtime.consumer import ConsumerConfig, EventConsumer, Handler
from shared.runtime.database import Database
from shared.runtime.health import ReadinessCheck
from shared.runtime.kafka import EventProducer, MissingTopics, ensure_topics
from shared.runtime.loop_health import consumer_check, loops_check
from shared.runtime.outbox import OutboxRelay
from shared.runtime.retry import Backoff, retrying
from shared.runtime.settings import CommonSettings
from shared.runtime.supervision import LoopFactory, Progress, RestartPolicy, Supervisor

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: CommonSettings, *, metadata: MetaData) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.database = Database(settings.resolved_database_url())
        self.metadata = metadata
        self.security = settings.kafka_security()
        self.producer = EventProducer(
            settings.kafka_bootstrap_servers,
            client_id=f"planb-{settings.service_name}",
            request_timeout_ms=settings.kafka_request_timeout_ms,
            security=self.security,
        )
        self.relay = OutboxRelay(
            self.database,
            self.producer,
            before_drain=self._ensure_topics if settings.creates_topics else self._require_topics,
            missing_topics=self.producer.missing_topics,
        )
        if not settings.creates_topics:
            # check before the first send too: a cluster that auto-creates topics would
            # otherwise make them with its defaults, not `planb topics create`'s
            self.relay.suspect_broker()
        self.without_kafka = "degraded: Kafka unreachable"
        """What the service still does while Kafka is away (each says its own): it stays ready,
        since what it serves comes from its database."""
        self.supervisor = Supervisor(
            RestartPolicy(
                limit=settings.loop_restart_limit,
                window_seconds=settings.loop_restart_window_seconds,
                base_seconds=settings.loop_restart_backoff_seconds,
            )
        )
        self.consumers: list[EventConsumer] = []
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self._short: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        """Schema first (migrated to head), then Kafka (in the background when it is not up)."""
        await migrations.upgrade(self.database.url, self.settings.service_name)
        # Open the pool's first connection now: a task cancelled at shutdown while its
        # aiosqlite connection is still being opened leaks that connection's thread.
        await self.database.ping()
        try:
            await self._connect_kafka()
        except Exception as exc:
            log.warning("Kafka not reachable at start (%s); will keep trying", exc)
            self.spawn(self._connect_kafka_forever(), "kafka-connect")
        self.supervise("outbox-relay", self.relay.run, progress=lambda: self.relay.last_round_at)

    async def _ensure_topics(self) -> None:
        """Development and tests only: create the missing topics (one replica)."""
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            self.topics.all(),
            self.settings.topic_partitions,
            security=self.security,
        )

    async def _require_topics(self) -> None:
        """Outside development the topics are `planb topics create`'s to make: wait for them."""
        if missing := await self.producer.missing_topics(set(self.topics.all())):
            raise MissingTopics(missing)

    async def _connect_kafka(self) -> None:
        if self.settings.creates_topics:
            await self._ensure_topics()
        await self.producer.start()

    async def _connect_kafka_forever(self) -> None:
        until_connected = retrying(
            backoff=Backoff(base_seconds=0.5, max_seconds=5.0),
            retry_on=(Exception,),
            on_retry=lambda exc, wait: log.warning(
                "Kafka still unreachable (%s); trying again in %.1fs", exc, wait
            ),
        )
        await until_connected(self._connect_kafka)
        log.info("connected to Kafka at %s", self.settings.kafka_bootstrap_servers)
        self.relay.wake()

    def add_consumer(
        self,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, Handler],
        *,
        fetch_max_wait_ms: int | None = None,
    ) -> EventConsumer:
        """A consumer loop for `group_id`; its fetch wait is `KAFKA_FETCH_MAX_WAIT_MS` unless
        the caller (a consumer whose latency does not matter) passes its own."""
        consumer = EventConsumer(
            ConsumerConfig(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=group_id,
                topics=topics,
                session_timeout_ms=self.settings.kafka_session_timeout_ms,
                fetch_max_wait_ms=fetch_max_wait_ms or self.settings.kafka_fetch_max_wait_ms,
                security=self.security,
                require_existing_topics=not self.settings.creates_topics,
            ),
            handlers=handlers,
            database=self.database,
            dlq_producer=self.producer,
        )
        self.consumers.append(consumer)
        self._consumer_tasks.append(
            self.supervise(
                f"consumer-{group_id}",
                consumer.run,
                progress=lambda: consumer.stats.last_round_at,
            )
        )
        return consumer

    def track(self, task: asyncio.Task[Any]) -> None:
        """A short task started by a request that may outlive it (ingest's late Kafka acks):
        `stop` lets it finish before closing the database, and cancels it if it won't."""
        self._short.add(task)
        task.add_done_callback(self._short.discard)

    def supervise(
        self, name: str, factory: LoopFactory, *, progress: Progress | None = None
    ) -> asyncio.Task[None]:
        """A long-running loop, restarted when it crashes (`factory` makes it afresh each time);
        `progress` says when it last finished a round, for /readyz."""
        task = self.supervisor.start(name, factory, progress=progress)
        self._tasks.append(task)
        return task

    def liveness(self) -> dict[str, str]:
        """The loops that crashed too often to be restarted, and why: empty while healthy."""
        return self.supervisor.failures()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task that ends by itself (connecting to Kafka), not supervised."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)
        return task

    async def stop(self, consumer_grace_seconds: float = 5.0) -> None:
        """Consumers finish their batch and leave their groups and tracked tasks finish (within
        the grace), open write sessions finish, then the background tasks are cancelled."""
        for consumer in self.consumers:
            consumer.request_stop()
        if finishing := [*self._consumer_tasks, *self._short]:
            await asyncio.wait(finishing, timeout=consumer_grace_seconds)
        leftover = list(self._short)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        if still_open := await self.database.quiesce():
            log.warning("%d database sessions still open at shutdown; cancelling them", still_open)
        for task in reversed(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._consumer_tasks.clear()
        await self.producer.stop()
        await self.database.dispose()

    def readiness(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "database": self._database_ready,
            "kafka": self._kafka_ready,
            "outbox": self._outbox_ready,
        }
        if not self.settings.creates_topics:
            checks["topics"] = self._topics_ready
        for consumer in self.consumers:
            loop = self.supervisor.loops[f"consumer-{consumer.config.group_id}"]
            checks[f"consumer:{consumer.config.group_id}"] = consumer_check(consumer, loop)
        checks["loops"] = loops_check(self.supervisor)
        return checks

    async def _database_ready(self) -> tuple[bool, Any]:
        await self.database.ping()
        return True, "reachable"

    async def _kafka_ready(self) -> tuple[bool, Any]:
        if await self.producer.is_connected():
            return True, self.settings.kafka_bootstrap_servers
        return True, self.without_kafka

    async def _topics_ready(self) -> tuple[bool, Any]:
        """Not ready while any topic is missing (production waits for `planb topics create`):
        even ingest, whose outbox could hold incidents, since nothing would ever send them."""
        if not await self.producer.is_connected():
            return True, "unknown while Kafka is unreachable (see kafka)"
        missing = await self.producer.missing_topics(set(self.topics.all()))
        if missing:
            return False, MissingTopics(missing).explanation
        return True, f"{len(self.topics.all())} topics present"

    async def _outbox_ready(self) -> tuple[bool, Any]:
        depth = await self.relay.depth()
        if self.relay.on_depth:
            self.relay.on_depth(depth)
        return True, {"depth": depth, "last_error": self.relay.last_error}


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())
