"""Poison records on every topic a running service consumes: the consumers carry on, and
every poison record lands on `<topic>.dlq` with the error.

The router and the publisher run as real processes. The consumed topics are
`planb.incidents` and `planb.deliveries` (router) and `planb.outbound` (publisher). Nothing
consumes `planb.audit` (it is produced for retention and outside readers only), so poison
there would reach no consumer and no dead-letter topic: it is left out.

On each topic every kind of poison (POISON) comes just before a good record with the same
key, so on the same partition: a tombstone, bytes that are not JSON, JSON that is not a
CloudEvent, an unknown `type`, a known type at a schema version nobody speaks (the version
is the `.vN` suffix of the CloudEvents `type`, shared/contract/events.py), and a known type whose
payload fails validation. The good records: an incident raised (the router must draft it),
a status update requested (the platform peer must get it, once) and, on
`planb.deliveries`, the publisher's own report of that update, which comes after the
poison keyed by its message id (the router must settle the delivery as published). Poison
shaped like a good record says POISON in its text, which must appear nowhere.
"""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contract.events import (
    CloudEvent,
    DeliveryPublished,
    IncidentRaised,
    IncidentRef,
    IncidentStatus,
    MessageKind,
    PublishRequested,
    Severity,
)
from shared.contract.topics import Topics
from shared.devtools.sandbox import MastodonPeer, serve
from tests.databases import scratch_database
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually, read_records

pytestmark = pytest.mark.faults

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
KIND_HEADER = "poison-kind"

# each kind of poison -> how the consumer's `planb-error` header starts for it
POISON: dict[str, str] = {
    "tombstone": "record has no value",
    "not-json": "not a CloudEvent",
    "not-a-cloudevent": "not a CloudEvent",
    "unknown-type": "unknown event type 'planb.mystery.happened.v1'",
    "future-version": "unknown event type 'planb.",
    "invalid-payload": "invalid planb.",
}
ROUNDS = len(POISON)  # one good record per kind, after it

CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
  - id: masto
    type: mastodon
    name: Mastodon
    url: {url}
    credentials_env: {{access_token: POISON_MASTODON_TOKEN}}
"""


def incident_raised(n: int) -> CloudEvent:
    data = IncidentRaised(
        incident_id=f"inc_poison_{n}",
        title=f"Lift out of order at stop {n}",
        severity=Severity.SEV4,  # pauses nothing: the drafts are the only effect
        started_at=NOW,
        raised_by="operator",
        raised_at=NOW,
    )
    return CloudEvent.wrap(data, source="/tests/poison", subject=data.incident_id)


def update_requested(n: int) -> CloudEvent:
    data = PublishRequested(
        message_id=f"msg_poison_{n}",
        channel_id="masto",
        kind=MessageKind.STATUS_UPDATE,
        text=f"The lift at stop {n} is out of order.",
        incident=IncidentRef(
            incident_id=f"inc_poison_{n}",
            title=f"Lift out of order at stop {n}",
            severity=Severity.SEV4,
            status=IncidentStatus.INVESTIGATING,
        ),
        approved_by="duty",
        requested_at=NOW,
    )
    return CloudEvent.wrap(data, source="/tests/poison", subject=data.message_id)


def delivery_published(n: int) -> CloudEvent:
    """The shape of the publisher's report of update n, for poison to imitate."""
    data = DeliveryPublished(
        message_id=f"msg_poison_{n}",
        channel_id="masto",
        kind=MessageKind.STATUS_UPDATE,
        incident_id=f"inc_poison_{n}",
        at=NOW,
    )
    return CloudEvent.wrap(data, source="/tests/poison", subject=data.message_id)


def envelope(event_type: str, data: dict[str, Any]) -> bytes:
    """A structured-mode CloudEvent of any type around any data."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/tests/poison",
            "type": event_type,
            "time": NOW.isoformat(),
            "data": data,
        }
    ).encode()


def poison(kind: str, like: CloudEvent) -> bytes | None:
    """A record of `kind` imitating `like` (same ids, text saying POISON)."""
    data = like.data.model_dump(mode="json")
    data |= {field: f"POISON {kind}" for field in ("title", "text") if field in data}
    if kind == "tombstone":
        return None
    if kind == "not-json":
        return b"\x00\xffPOISON{not json"
    if kind == "not-a-cloudevent":
        return json.dumps({"POISON": kind, "data": data}).encode()
    if kind == "unknown-type":
        return envelope("planb.mystery.happened.v1", data)
    if kind == "future-version":
        return envelope(like.type.removesuffix(".v1") + ".v99", data)
    if kind == "invalid-payload":  # wrong types where the model has these fields
        wrong = {"message_id": 42, "incident_id": 42, "severity": "sev9", "kind": "pigeon"}
        return envelope(like.type, data | {k: v for k, v in wrong.items() if k in data})
    raise ValueError(kind)


@pytest.fixture
def mastodon() -> Iterator[tuple[MastodonPeer, str]]:
    peer = MastodonPeer(token="poison-token")
    with serve(peer.app) as url:
        yield peer, url


@pytest.fixture
def services(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, mastodon: tuple[MastodonPeer, str]
) -> Iterator[dict[str, ServiceProcess]]:
    """The router and the publisher, each a real process with a database of its own."""
    channels = tmp_path / "channels.yaml"
    channels.write_text(CHANNELS.format(url=mastodon[1]))
    env = service_environment(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        channels_file=channels,
    ) | {"CONFIG_DIR": str(CONFIG_DIR), "POISON_MASTODON_TOKEN": mastodon[0].token}
    with (
        scratch_database(tmp_path, "router") as router_db,
        scratch_database(tmp_path, "publisher") as publisher_db,
        ServiceProcess("router", tmp_path, env=env | {"DATABASE_URL": router_db}) as router,
        ServiceProcess(
            "publisher", tmp_path, env=env | {"DATABASE_URL": publisher_db}
        ) as publisher,
    ):
        yield {"router": router.start(), "publisher": publisher.start()}


@pytest.fixture
async def producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    """A bare producer: poison needs values (a tombstone's None) EventProducer won't send."""
    running = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await running.start()
    yield running
    await running.stop()


async def send_poison_then(
    producer: AIOKafkaProducer, topic: str, key: str, kind: str, good: CloudEvent | None
) -> bytes | None:
    """Poison of `kind` keyed `key`, then (if given) the good record it imitates; returns
    the poison's value."""
    like = good or delivery_published(int(key.rsplit("_", 1)[1]))
    value = poison(kind, like)
    await producer.send_and_wait(
        topic, value, key=key.encode(), headers=[(KIND_HEADER, kind.encode())]
    )
    if good is not None:
        await producer.send_and_wait(topic, good.to_bytes(), key=key.encode())
    return value


async def dead_letters(bootstrap_servers: str, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every record on `<topic>.dlq` once ROUNDS have arrived: value and headers."""
    records = await read_records(bootstrap_servers, Topics.dlq(topic), ROUNDS)
    return [
        (r.value or b"", {k: v.decode(errors="replace") for k, v in r.headers}) for r in records
    ]


async def dead_lettered_counts(services: dict[str, ServiceProcess]) -> dict[str, int]:
    """Each consumer's own count of dead letters, from its service's /readyz."""
    counts: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for service in services.values():
            checks = (await http.get(f"{service.url}/readyz")).json()["checks"]
            for name, check in checks.items():
                if name.startswith("consumer:"):
                    counts[name.rsplit("-", 1)[1]] = check["detail"]["dead_lettered"]
    return counts


async def test_poison_on_every_consumed_topic_is_dead_lettered_and_the_services_carry_on(
    services: dict[str, ServiceProcess],
    producer: AIOKafkaProducer,
    bootstrap_servers: str,
    topic_prefix: str,
    tmp_path: Path,
    mastodon: tuple[MastodonPeer, str],
) -> None:
    topics = Topics(topic_prefix)
    kinds = list(POISON)
    sent: dict[tuple[str, str], bytes | None] = {}
    for n, kind in enumerate(kinds):
        sent[topics.incidents, kind] = await send_poison_then(
            producer, topics.incidents, f"inc_poison_{n}", kind, incident_raised(n)
        )
    router = services["router"]
    tokens = json.loads((tmp_path / "dev-tokens.json").read_text())
    auth = {"Authorization": f"Bearer {tokens['duty_manager']}"}
    async with httpx.AsyncClient(base_url=router.url, headers=auth, timeout=10) as http:

        async def drafted() -> list[dict[str, Any]] | None:
            found = []
            for n in range(ROUNDS):
                response = await http.get(f"/v1/incidents/inc_poison_{n}")
                if response.status_code != 200 or not response.json()["drafts"]:
                    return None
                found.append(response.json())
            return found

        incidents = await eventually(drafted, what="every good incident drafted by the router")
        assert [i["title"] for i in incidents] == [
            f"Lift out of order at stop {n}" for n in range(ROUNDS)
        ]

        # deliveries' poison first, keyed by the message id the publisher's report will carry
        for n, kind in enumerate(kinds):
            sent[topics.deliveries, kind] = await send_poison_then(
                producer, topics.deliveries, f"msg_poison_{n}", kind, None
            )
            sent[topics.outbound, kind] = await send_poison_then(
                producer, topics.outbound, "masto", kind, update_requested(n)
            )

        wanted = {f"msg_poison_{n}" for n in range(ROUNDS)}

        async def posted() -> bool:
            keys = [p.headers.get("idempotency-key") for p in mastodon[0].posts]
            return set(keys) == wanted

        await eventually(posted, what="every good update at the Mastodon peer")

        async def settled() -> bool:
            for n in range(ROUNDS):
                detail = (await http.get(f"/v1/incidents/inc_poison_{n}")).json()
                states = {d["message_id"]: d["state"] for d in detail["deliveries"]}
                if states.get(f"msg_poison_{n}") != "published":
                    return False
            return True

        await eventually(settled, what="every delivery settled as published on the router")
        everything = json.dumps([(await http.get("/v1/incidents")).json(), incidents])

    assert len(mastodon[0].posts) == ROUNDS
    assert "POISON" not in everything + "".join(p.text for p in mastodon[0].posts)
    for topic in (topics.incidents, topics.outbound, topics.deliveries):
        letters = await dead_letters(bootstrap_servers, topic)
        by_kind = {headers[KIND_HEADER]: (value, headers) for value, headers in letters}
        assert sorted(by_kind) == sorted(kinds), topic
        # incidents are read by two groups (the router's, the publisher's tags): one each
        groups = {headers["planb-consumer-group"] for _, headers in letters}
        assert len(groups) == (2 if topic == topics.incidents else 1), (topic, groups)
        assert len(letters) == ROUNDS * len(groups), topic
        for kind, (value, headers) in by_kind.items():
            assert headers["planb-source-topic"] == topic
            assert headers["planb-error"].startswith(POISON[kind]), (topic, kind, headers)
            assert value == (sent[topic, kind] or b""), (topic, kind)  # a tombstone: b""
    counts = await dead_lettered_counts(services)
    assert counts == {"incidents": ROUNDS, "deliveries": ROUNDS, "publisher": ROUNDS}, counts
    print(
        f"\npoison: {3 * ROUNDS} dead-lettered (per consumer {counts}), {ROUNDS} incidents "
        f"drafted, {ROUNDS} updates posted once, {ROUNDS} deliveries settled"
    )
