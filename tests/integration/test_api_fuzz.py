"""Schemathesis over every operation of the three services' OpenAPI specs, against real
servers (processes), the real broker and real databases: whatever the input, with the token
of a role that may call it, another role's, a made-up one or none, the answer is never a 5xx.

Schemathesis's pytest plugin does not run under pytest 9, so its strategies are driven by
hypothesis directly. Inputs come invalid by the schema and valid, and valid ones are mostly
made realistic: real ids (an incident, a draft, a post, a message, a channel seeded at the
start) in the path, query and body, so the handlers behind the 404 are reached too, and
telling timestamps (past year 9999 in UTC, no offset, the next years) at any depth.
"""

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from shared.devtools.broker import EmbeddedBroker
from shared.web.auth import DEV_TOKEN_ROLES, generate_dev_tokens
from tests.databases import scratch_database
from tests.processes import Service, ServiceProcess, service_environment
from tests.support import eventually

SERVICES: tuple[Service, ...] = ("ingest", "router", "publisher")
ALERTMANAGER_SECRET = "fuzz-alertmanager-secret-0123456789"
CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
    marketing: false
  - id: promo
    type: statuspage
    name: Promotions
    marketing: true
    tags: {regions: [north]}
"""

# Who may call what (docs/design.md, "HTTP API"); any other operation takes any role.
CALLERS: dict[tuple[str, str], str] = {
    ("POST", "/v1/incidents"): "operator",
    ("POST", "/v1/incidents/{incident_id}/updates"): "operator",
    ("POST", "/v1/alerts/alertmanager"): "alertmanager",
    ("PATCH", "/v1/drafts/{draft_id}"): "duty_manager",
    ("POST", "/v1/drafts/{draft_id}/approve"): "duty_manager",
    ("POST", "/v1/drafts/{draft_id}/reject"): "duty_manager",
    ("POST", "/v1/marketing/posts"): "marketing",
    ("DELETE", "/v1/marketing/posts/{post_id}"): "marketing",
    ("POST", "/v1/marketing/pause"): "duty_manager",
    ("POST", "/v1/marketing/resume"): "duty_manager",
    ("POST", "/v1/admin/tokens"): "admin",
    ("GET", "/v1/admin/tokens"): "admin",
    ("POST", "/v1/admin/tokens/{name}/rotate"): "admin",
    ("DELETE", "/v1/admin/tokens/{name}"): "admin",
    ("POST", "/v1/maintenance"): "operator",
    ("POST", "/v1/maintenance/{maintenance_id}/extend"): "operator",
    ("POST", "/v1/maintenance/{maintenance_id}/cancel"): "operator",
    ("POST", "/v1/subscribers/export"): "admin",
    ("POST", "/v1/subscribers/erase"): "admin",
}
# Per operation: enough for the bodies' corners, and the module stays within ~90 s. A post
# gets more: few generated ones pass the channel, time and text checks to be stored.
MAX_EXAMPLES = 40
MORE_EXAMPLES = {"POST /v1/marketing/posts": 100}


@dataclass
class System:
    urls: dict[Service, str]
    tokens: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def system(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The three services as processes on the session broker, with some real data in them."""
    folder = tmp_path_factory.mktemp("api-fuzz")
    (folder / "channels.yaml").write_text(CHANNELS)
    env = service_environment(
        folder,
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"fuzz{uuid.uuid4().hex[:10]}",
        channels_file=folder / "channels.yaml",
    )
    env |= {
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_BURST": "100000",
        "ALERTMANAGER_RATE_LIMIT_PER_MINUTE": "1000000",
        "ALERTMANAGER_TOKEN": ALERTMANAGER_SECRET,
    }
    tokens = {**generate_dev_tokens(folder), "alertmanager": ALERTMANAGER_SECRET}
    with ExitStack() as stack:
        processes = []
        for name in SERVICES:
            database = stack.enter_context(scratch_database(folder, name))
            process = ServiceProcess(name, folder, env={**env, "DATABASE_URL": database})
            stack.callback(process.stop)
            processes.append(process)
        with ThreadPoolExecutor() as pool:  # each start blocks until /readyz: side by side
            list(pool.map(ServiceProcess.start, processes))
        running = System(urls={p.service: p.url for p in processes}, tokens=tokens)
        running.ids = asyncio.run(seed(running))
        yield running


async def seed(system: System) -> dict[str, list[str]]:
    """Three incidents (so pending drafts), one draft approved (so a delivery), a post."""

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {system.tokens[role]}"}

    ingest, router, publisher = (system.urls[s] for s in SERVICES)
    async with httpx.AsyncClient(timeout=10, headers=auth("admin")) as http:
        incidents = []
        for severity in ("sev2", "sev3", "sev4"):
            raised = await http.post(
                f"{ingest}/v1/incidents",
                headers=auth("operator"),  # four-eyes: whoever raised a sev2 cannot approve
                json={"title": f"Fuzz seed {severity}", "severity": severity},
            )
            assert raised.status_code == 202, raised.text
            incidents.append(raised.json()["incident_id"])

        async def drafts() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = (await http.get(f"{router}/v1/drafts")).json()
            return found if {d["incident_id"] for d in found} == set(incidents) else None

        first, *_ = await eventually(drafts, what="the seed incidents' drafts")
        approved = await http.post(f"{router}/v1/drafts/{first['id']}/approve", json={})
        assert approved.status_code == 200, approved.text
        post = await http.post(
            f"{router}/v1/marketing/posts",
            json={"channel_id": "promo", "text": "Sale!", "publish_at": "2099-01-01T09:00:00Z"},
        )
        assert post.status_code == 201, post.text

        async def delivered() -> list[dict[str, Any]] | None:
            query = {"incident_id": first["incident_id"]}
            found: list[dict[str, Any]] = (
                await http.get(f"{publisher}/v1/deliveries", params=query)
            ).json()
            return found or None

        deliveries = await eventually(delivered, what="the seed delivery")
        pending = await drafts()
    assert pending is not None
    return {
        "incident_id": incidents,
        "draft_id": [d["id"] for d in pending],
        "post_id": [post.json()["id"]],
        "message_id": [d["message_id"] for d in deliveries],
        "channel_id": ["status", "promo"],
    }


REAL_ID_FIELDS = {"channel_id", "incident_id", "post_id", "message_id", "draft_id"}


def strategies(operation: Any, ids: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Invalid cases, valid ones, and valid ones made realistic: real ids in the path or
    query, real ids and telling timestamps in the body and query (`realistic`)."""
    valid = [operation.as_strategy(GenerationMode.POSITIVE)]
    for parameter in operation.path_parameters:
        for real in ids.get(parameter.name, []):
            valid.append(operation.as_strategy(path_parameters={parameter.name: real}))
    for parameter in operation.query:
        for real in ids.get(parameter.name, []):
            valid.append(operation.as_strategy(query={parameter.name: real}))
    options = [st.one_of(valid).flatmap(lambda case: realistic(case, ids))]
    with contextlib.suppress(Exception):  # an operation without inputs has no invalid case
        options.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(options)


TIME_FIELDS = {"started_at", "publish_at", "at", "since", "until", "startsAt", "endsAt"}
OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23))
FUTURE = st.datetimes(min_value=datetime(2030, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda at: at.replace(tzinfo=UTC).isoformat()
)
# Times that tell: the year 9999 or 0001 under an offset (outside UTC's range), no offset,
# and ones in the next years (the only ones a marketing post may have).
TIMES = st.one_of(
    st.builds(
        lambda at, offset: at.replace(tzinfo=timezone(offset)).isoformat(),
        st.datetimes(),
        OFFSETS,
    ),
    st.sampled_from(
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-11-22T10:00:00"]
    ),
    FUTURE,
    FUTURE,
)


def realistic(case: schemathesis.Case, ids: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """The case as generated, or with its body's and query's ids (channel, incident) made
    real ones, so a draft edit or a post gets past "no such channel", and its timestamps
    (at any depth) made telling ones."""
    slots = list(_slots(case.body, ("body",))) + list(_slots(case.query, ("query",)))
    values: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {}
    for path in slots:
        key = path[-1]
        if key == "channels":
            values[path] = st.lists(
                st.sampled_from(ids["channel_id"]), min_size=1, max_size=2, unique=True
            )
        elif key in TIME_FIELDS:
            values[path] = TIMES
        else:
            values[path] = st.sampled_from(ids[key])
    if not values:
        return st.just(case)

    def place(drawn: dict[tuple[Any, ...], Any]) -> schemathesis.Case:
        for (where, *path), value in drawn.items():
            container = case.body if where == "body" else case.query
            for step in path[:-1]:
                container = container[step]
            container[path[-1]] = value
        return case

    made_real = st.fixed_dictionaries(values).map(place)
    return st.one_of(st.just(case), made_real, made_real, made_real)  # mostly made real


def _slots(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Paths of the fields `realistic` fills in, in dicts and lists at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if (
                key in TIME_FIELDS
                or key in REAL_ID_FIELDS
                or (key == "channels" and isinstance(inner, list))
            ):
                yield (*path, key)
            else:
                yield from _slots(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _slots(inner, (*path, index))


def callers(operation: Any, tokens: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """Mostly the token of a role that may call it, sometimes admin's, another role's, a
    made-up one or none at all."""
    role = CALLERS.get((operation.method.upper(), operation.path), "duty_manager")
    roles = [r for r in tokens if DEV_TOKEN_ROLES.get(r) not in (role, "admin", None)]
    tried = [role] * 4 + ["admin", *roles]
    return st.sampled_from(
        [{"Authorization": f"Bearer {tokens[r]}"} for r in tried]
        + [{}, {"Authorization": "Bearer pb_admin_not-a-real-token"}]
    )


def fuzz(operation: Any, system: System) -> Counter[int]:
    """Hypothesis over one operation; raises on the first 5xx (shrunk), else the statuses."""
    statuses: Counter[int] = Counter()

    @given(case=strategies(operation, system.ids), headers=callers(operation, system.tokens))
    @settings(
        max_examples=MORE_EXAMPLES.get(operation.label, MAX_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case, headers: dict[str, str]) -> None:
        response = case.call(headers=headers, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error])

    call()
    return statuses


@pytest.mark.parametrize("service", SERVICES)
def test_no_input_makes_a_server_error(system: System, service: Service) -> None:
    """Every operation, fuzzed; failures are collected per operation, then reported."""
    schema = schemathesis.openapi.from_url(f"{system.urls[service]}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    failures: list[str] = []
    for operation in operations:
        started = time.monotonic()
        try:
            statuses = fuzz(operation, system)
        except Exception as exc:  # keep going: every operation's failure in one report
            failures.append(f"{operation.label}: {exc}")
            continue
        seconds = time.monotonic() - started
        print(f"\n{operation.label}: {seconds:.1f}s {sorted(statuses.items())}", end="")
    assert not failures, "\n\n".join(failures)
