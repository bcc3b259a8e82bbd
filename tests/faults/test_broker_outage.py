"""The broker goes away for 30 s under a steady load of incidents, then comes back.

Ingest and router run as real processes (tests/processes.py) against a broker of this
test's own on a fixed port (the session broker is shared, and this one gets stopped). An
operator's client raises incidents at 10/s (tests/faults/load.py) before, during and after
the outage; every request must be answered 202 (`accepted` or `queued`) within the client's
10 s timeout (ingest waits at most ACCEPT_WAIT_MS for Kafka, then queues). Two outages,
because the embedded tansu broker keeps everything in memory (docs/broker.md):

- hung (SIGSTOP, then SIGCONT): connections stay open and nothing answers, the nastier
  case for clients; the broker keeps its records, so every incident reaches the router;
- killed, and a fresh broker started on the same port: it comes back empty (no topics,
  records, groups or offsets), so records it had acknowledged that the router had not read
  yet are gone with it. That is the test broker's storage, not Plan B's (Apache Kafka keeps
  them), and the oracle allows exactly those; the services must recover by themselves.
"""

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.contract.topics import Topics
from shared.devtools.broker import EmbeddedBroker
from shared.web.auth import generate_dev_tokens
from tests.faults.load import Load
from tests.faults.own_broker import fresh_broker, services_on_own_broker
from tests.integration.ingest_harness import read_events
from tests.processes import Service, ServiceProcess
from tests.support import eventually

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 30.0
RATE_PER_SECOND = 10.0
CLIENT_TIMEOUT_SECONDS = 10.0
PARTITIONS = 2
SERVICES: tuple[Service, ...] = ("ingest", "router")


@dataclass
class System:
    """Ingest and router processes on this test's broker port, and clients for both."""

    ingest: ServiceProcess
    router: ServiceProcess
    tokens: dict[str, str]
    topics: Topics
    broker_port: int
    folder: Path

    def broker(self) -> EmbeddedBroker:
        """A fresh (empty) broker on the system's port, started."""
        return fresh_broker(self.broker_port, self.folder)

    @asynccontextmanager
    async def under_load(self) -> AsyncIterator[tuple[Load, httpx.AsyncClient]]:
        """Start both services, then the load; yields it and a duty manager's router client."""
        await asyncio.gather(  # each blocks until its /readyz answers: start them side by side
            asyncio.to_thread(self.ingest.start), asyncio.to_thread(self.router.start)
        )
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=50)
        duty_manager = {"Authorization": f"Bearer {self.tokens['duty_manager']}"}
        async with (
            httpx.AsyncClient(base_url=self.ingest.url, limits=limits) as ingest,
            httpx.AsyncClient(base_url=self.router.url, headers=duty_manager) as router,
        ):
            operator = self.tokens["operator"]
            load = Load(ingest, operator, rate=RATE_PER_SECOND, timeout=CLIENT_TIMEOUT_SECONDS)
            load.start()
            await asyncio.sleep(5)  # the scenario: a steady load before the outage
            yield load, router


@pytest.fixture
def system(tmp_path: Path, topic_prefix: str) -> Iterator[System]:
    unlimited = {"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_BURST": "10000"}
    with services_on_own_broker(
        tmp_path, topic_prefix, SERVICES, partitions=PARTITIONS, env=unlimited
    ) as (processes, port):
        yield System(
            ingest=processes["ingest"],
            router=processes["router"],
            tokens=generate_dev_tokens(tmp_path),  # the ones service_environment made
            topics=Topics(topic_prefix),
            broker_port=port,
            folder=tmp_path,
        )


async def drafts_per_incident(router: httpx.AsyncClient) -> Counter[str]:
    """Every draft, page by page (`Link: rel=next`)."""
    counts: Counter[str] = Counter()
    url = "/v1/drafts?limit=200"
    while url:
        response = await router.get(url)
        response.raise_for_status()
        counts.update(draft["incident_id"] for draft in response.json())
        url = response.links.get("next", {}).get("url", "")
    return counts


async def drafted_once(router: httpx.AsyncClient, required: set[str]) -> Counter[str]:
    """Wait until every `required` incident has a draft; then no incident may have two."""

    async def all_there() -> Counter[str] | None:
        counts = await drafts_per_incident(router)
        return counts if required <= set(counts) else None

    counts = await eventually(all_there, within=90, what=f"{len(required)} incidents drafted")
    assert set(counts.values()) == {1}, [i for i, n in counts.items() if n > 1]
    return counts


def assert_every_request_answered_202(load: Load) -> None:
    """Each request answered 202 (`accepted` or `queued`) at its first attempt: none timed
    out (a retry with the same Idempotency-Key would only have recovered the answer)."""
    report = load.report()
    print(f"\n{report}")
    late = [a for a in load.answers if a.timeouts]
    assert not late, f"{len(late)} requests timed out at least once:\n{report}\n{late[:3]}"
    wrong = [a for a in load.answers if a.outcome not in ("accepted", "queued")]
    assert not wrong, f"{len(wrong)} requests not answered 202:\n{report}\n{wrong[:3]}"


async def outbox_depth(system: System) -> int:
    async with httpx.AsyncClient(base_url=system.ingest.url) as ingest:
        ready = (await ingest.get("/readyz")).json()
    return int(ready["checks"]["outbox"]["detail"]["depth"])


async def partitions_of(bootstrap_servers: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return len(described["partitions"]) if described["error_code"] == 0 else 0
    finally:
        await admin.close()


async def test_hung_broker_for_30s_under_load(system: System) -> None:
    """SIGSTOP holds the broker's connections open without a word; SIGCONT lets it go on
    with everything it had. Every incident reaches the router exactly once: a send that
    timed out (and was queued) can still be written when the broker wakes, and the
    router's inbox drops that second copy by event id."""
    broker = system.broker()
    assert broker.process is not None
    pid = broker.process.pid
    try:
        async with system.under_load() as (load, router):
            os.kill(pid, signal.SIGSTOP)
            load.mark("hung")
            await asyncio.sleep(OUTAGE_SECONDS)
            os.kill(pid, signal.SIGCONT)
            load.mark("resumed")
            await asyncio.sleep(5)  # and load after it
            await load.stop()
            assert_every_request_answered_202(load)
            raised = load.incident_ids()
            counts = await drafted_once(router, raised)
            assert set(counts) == raised
        assert await outbox_depth(system) == 0
        events = await read_events(broker.bootstrap_servers, system.topics.incidents, len(raised))
        copies = Counter(event.id for event in events)
        assert set(copies) == {a.body["event_id"] for a in load.answers}
        print(f"{len(events)} records on the topic for {len(copies)} events")
    finally:
        os.kill(pid, signal.SIGCONT)
        broker.stop()


async def test_broker_killed_and_replaced_by_an_empty_one_after_30s(system: System) -> None:
    """SIGKILL under load; 30 s later a fresh broker on the same port, no service restarted.

    Exact oracle: a request sent before the kill may have been acknowledged by the old broker
    only (before its answer, `accepted`, or after it, `queued` then acked late), and is lost
    if the router had not read it by then (`read_before_kill`, taken from the router while
    no broker runs: it can read nothing more). Every incident sent after the kill (in ingest's
    outbox, then acknowledged by the new broker) must reach the router, exactly once: so the
    topics must be recreated and the router's consumers must re-join a group the new broker
    has never heard of."""
    broker = system.broker()
    try:
        async with system.under_load() as (load, router):
            assert broker.process is not None
            broker.process.kill()
            broker.process.wait()
            killed_at = load.mark("killed")
            await asyncio.sleep(OUTAGE_SECONDS)
            read_before_kill = set(await drafts_per_incident(router))
            broker.stop()
            broker = system.broker()
            load.mark("replaced")
            await asyncio.sleep(10)  # and load after it
            await load.stop()
            assert_every_request_answered_202(load)
            at_risk = {a.body["incident_id"] for a in load.answered_202() if a.sent_at < killed_at}
            required = load.incident_ids() - (at_risk - read_before_kill)
            assert len(required) > len(load.answers) * 3 // 4
            counts = await drafted_once(router, required)
            assert set(counts) <= load.incident_ids()
            lost = at_risk - set(counts)
            print(
                f"{len(required)} incidents required and drafted; {len(at_risk)} sent before the "
                f"kill, {len(lost)} of them unread by the router and lost with the broker's memory"
            )
            readyz = (await router.get("/readyz")).json()["checks"]
        consumer = readyz[f"consumer:{system.topics.prefix}-router-incidents"]["detail"]
        partitions = await partitions_of(broker.bootstrap_servers, system.topics.incidents)
        print(f"incidents topic recreated with {partitions} partitions; consumer: {consumer}")
        assert consumer["assigned_partitions"] == partitions >= PARTITIONS
        assert await outbox_depth(system) == 0
    finally:
        broker.stop()
