"""kill -9 of ingest while its group commit is busy: nothing answered 202 is lost.

Ingest runs as a real process (tests/processes.py) with a database of its own (SQLite, or
PostgreSQL with TEST_DATABASE_URL). Sixteen clients raise incidents without pause, so the
writer always has a batch under way or gathering; once a few hundred are accepted, ingest
gets SIGKILL mid-stream and is started again on the session broker. Every request answered
202 before the kill must reach `planb.incidents` (sent directly, or by the restarted
process's relay from the outbox), with the event id its answer named; requests the kill cut
off got no answer and may or may not have been taken.

With Kafka up, 202s are `accepted` (Kafka acknowledged them); with Kafka unreachable until
the restart they are `queued`, so only the committed outbox rows carry them through.
"""

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from shared.contract.events import parse_event
from shared.contract.topics import Topics
from shared.devtools.broker import free_port
from shared.web.auth import generate_dev_tokens
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually, read_records

pytestmark = pytest.mark.faults

CLIENTS = 16
KILL_AFTER = 300


@pytest.fixture(params=["kafka up", "kafka down"])
def ingest(
    request: pytest.FixtureRequest, tmp_path: Path, bootstrap_servers: str, topic_prefix: str
) -> Iterator[ServiceProcess]:
    with ExitStack() as stack:
        database = stack.enter_context(scratch_database(tmp_path, "ingest"))
        env = service_environment(
            tmp_path,
            bootstrap_servers=bootstrap_servers,
            topic_prefix=topic_prefix,
            channels_file=tmp_path / "channels.yaml",
        )
        if request.param == "kafka down":
            env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
        env |= {
            "DATABASE_URL": database,
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_BURST": "100000",
        }
        process = ServiceProcess("ingest", tmp_path, env=env)
        stack.callback(process.stop)
        yield process.start()


async def raise_until_cut_off(client: httpx.AsyncClient, accepted: dict[str, str]) -> None:
    """Raise incidents until the connection fails; record each 202 (incident → event id)."""
    body = {"title": "Points failure at Junction", "severity": "sev4"}
    while True:
        try:
            answer = await client.post("/v1/incidents", json=body)
        except httpx.HTTPError:
            return
        assert answer.status_code == 202, answer.text
        accepted[answer.json()["incident_id"]] = answer.json()["event_id"]


async def test_kill9_during_a_batch_loses_no_accepted_incident(
    ingest: ServiceProcess, tmp_path: Path, bootstrap_servers: str, topic_prefix: str
) -> None:
    token = generate_dev_tokens(tmp_path)["operator"]
    accepted: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=ingest.url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=CLIENTS),
        timeout=30,
    ) as client:
        load = [asyncio.create_task(raise_until_cut_off(client, accepted)) for _ in range(CLIENTS)]
        await eventually(
            lambda: asyncio.sleep(0, len(accepted) >= KILL_AFTER), what="incidents accepted"
        )
        ingest.kill()
        await asyncio.gather(*load)
    answered = dict(accepted)
    ingest.env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap_servers
    ingest.start()  # its relay sends what the outbox still holds
    topic = Topics(topic_prefix).incidents
    records = await read_records(bootstrap_servers, topic, len(answered), within=60)
    sent = {(event.subject, event.id) for event in map(parse_event, (r.value for r in records))}
    missing = set(answered.items()) - sent
    assert not missing, f"{len(missing)} of {len(answered)} accepted incidents were lost"
