"""What the on-call engineer sees of one incident's path through the three services as
real processes: the metrics the dashboard and the alert rules name (scraped from the
processes), and the figures they show after one incident."""

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.devtools.broker import EmbeddedBroker
from tests.e2e.observed import Observed, observed_system, one_incident_through
from tests.e2e.otlp_receiver import ReceivedSpan
from tests.e2e.pictures import dashboard_html, prometheus, screenshot, trace_svg
from tests.support import eventually

pytestmark = pytest.mark.e2e

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
NAME = re.compile(r"\b((?:planb|process|python)_[a-z0-9_]+)")


@pytest.fixture(scope="module")
def system(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """One incident's path, once for the module's tests."""
    folder = tmp_path_factory.mktemp("observed")
    with observed_system(folder, broker.bootstrap_servers) as running:
        asyncio.run(one_incident_through(running))
        yield running


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(system: Observed) -> tuple[set[str], Samples]:
    """Every family name the services export (a histogram's and a counter's as Prometheus
    stores them: `_bucket`, `_total`), and every sample."""
    names: set[str] = set()
    samples: Samples = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service in system.services.values():
            text = (await http.get(f"{service.url}/metrics")).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    names.add(sample.name)
                    samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return names, samples


def named_in(text: str) -> set[str]:
    return set(NAME.findall(text))


async def test_every_metric_a_rule_or_a_panel_names_is_exported(system: Observed) -> None:
    rules = (OBSERVABILITY / "alerts.yaml").read_text()
    dashboard = (OBSERVABILITY / "dashboard.json").read_text()
    wanted = named_in(rules) | named_in(dashboard)
    assert len(wanted) > 15
    names, _ = await scrape(system)
    missing = sorted(wanted - names)
    assert not missing, missing
    for group in yaml.safe_load(rules)["groups"]:
        for rule in group["rules"]:
            assert rule["annotations"]["runbook"], rule["alert"]


async def test_the_figures_after_one_incident(system: Observed) -> None:
    def value(samples: Samples, name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset(labels.items())))

    async def settled() -> Samples | None:
        _, samples = await scrape(system)
        published = value(
            samples, "planb_publisher_deliveries_total", channel="hook", outcome="published"
        )
        paused = value(samples, "planb_router_channels_paused", cause="incident")
        return samples if published == 1 and paused == 1 else None

    samples = await eventually(settled, what="the delivery and the pause on /metrics")
    assert value(samples, "planb_router_channel_paused", channel="promo") == 1
    assert value(samples, "planb_router_channel_paused", channel="status") == 0
    assert value(samples, "planb_router_drafts_pending", incident_severity="sev1") == 0
    assert value(samples, "planb_publisher_breaker_open", channel="hook") == 0
    assert value(samples, "planb_publisher_pause_seconds_count") == 1
    assert value(samples, "planb_publisher_approved_to_published_seconds_count") == 1
    for service in ("ingest", "router", "publisher"):
        assert value(samples, "planb_ready", service=service) == 1
        assert value(samples, "planb_outbox_depth", service=service) is not None
    incidents = [
        key
        for key in samples
        if key[0] == "planb_consumer_lag_records" and dict(key[1])["topic"].endswith(".incidents")
    ]
    # read by the router and by the publisher (each incident's tags): a series per group
    assert sorted(dict(key[1])["group"].rsplit("-", 2)[1] for key in incidents) == [
        "publisher",
        "router",
    ]
    assert all(samples[key] == 0 for key in incidents)


async def test_one_trace_from_the_ingest_request_to_the_webhook_peer(system: Observed) -> None:
    receiver = system.spans
    await posted_span(system)
    raised = next(
        s for s in receiver.spans if s.service == "planb-ingest" and s.name == "POST /v1/incidents"
    )
    peer_saw = system.peer.posts[0].headers["traceparent"]
    call = next(s for s in receiver.spans if s.name == "POST" and s.service == "planb-publisher")
    for attribute in ("url.full", "http.url"):  # no path: it may hold a secret
        assert call.attributes[attribute] == system.peer_origin
    assert peer_saw.split("-")[1] == raised.trace_id  # the platform's request, same trace
    trace = receiver.trace(raised.trace_id)
    assert {s.service for s in trace} == {"planb-ingest", "planb-router", "planb-publisher"}
    names = {(s.service, s.name) for s in trace}
    assert ("planb-router", "handle planb.incident.raised.v1") in names
    # the publisher's consumer: one record's handler, or a fetch's status updates together
    assert names & {
        ("planb-publisher", "handle planb.publish.requested.v2"),
        ("planb-publisher", "queue delivery"),
    }
    # the webhook's report, settled by the dispatcher, is recorded by the router in it too

    async def both_recorded() -> list[ReceivedSpan] | None:
        spans = receiver.trace(raised.trace_id)
        recorded = [s for s in spans if s.name == "handle planb.delivery.published.v1"]
        settled = [s for s in spans if s.name == "settle" and s.service == "planb-publisher"]
        # the status page's report and the webhook's
        return recorded if len(recorded) == 2 and settled else None

    await eventually(both_recorded, what="the router's spans of both delivery reports")
    # the duty manager's approval is a request of its own, linked from the incident's trace
    approval = next(s for s in receiver.spans if s.name.startswith("POST /v1/drafts/"))
    assert approval.trace_id != raised.trace_id
    approve = next(s for s in trace if s.name == "approve")
    assert approve.links == (approval.trace_id,)
    assert approve.attributes["incident_id"] == system.incident_id
    # a request's span keeps its path, not its query (a sign-in callback's code)
    asked = next(s for s in receiver.spans if s.name == "GET /v1/drafts")
    assert asked.attributes["http.target"] == "/v1/drafts"
    assert "?" not in asked.attributes["http.url"]
    # another incident is a trace of its own (ingest's group commit writes for both)
    async with httpx.AsyncClient(timeout=10) as http:
        again = await http.post(
            f"{system.ingest.url}/v1/incidents",
            headers=system.auth("operator"),
            json={"title": "Lift out of order", "severity": "sev4"},
        )
        assert again.status_code == 202, again.text

    async def both_handled() -> list[ReceivedSpan] | None:
        handled = [
            s
            for s in receiver.spans
            if s.name == "handle planb.incident.raised.v1" and s.service == "planb-router"
        ]
        return handled if len(handled) == 2 else None

    handled = await eventually(both_handled, what="the second incident's span on the router")
    assert len({s.trace_id for s in handled}) == 2
    # and a log line about it (the publisher's pause of `promo`) carries the trace id
    lines = [json.loads(line) for line in system.publisher.log().splitlines() if line[:1] == "{"]
    about = [r for r in lines if r.get("incident_id") == system.incident_id]
    paused = next(r for r in about if r["channel_id"] == "promo")
    assert paused["trace_id"] == raised.trace_id
    assert {r["trace_id"] for r in about if "trace_id" in r} == {raised.trace_id}


async def posted_span(system: Observed) -> ReceivedSpan:
    """The publisher's span of the post to the webhook, once exported (the last one)."""

    async def exported() -> ReceivedSpan | None:
        return next((s for s in system.spans.spans if s.name == "post"), None)

    return await eventually(exported, what="the publisher's post span at the OTLP receiver")


PICTURES = os.environ.get("OBSERVABILITY_PICTURES")


@pytest.mark.skipif(
    not PICTURES, reason="writes the README's pictures: OBSERVABILITY_PICTURES=docs/observability"
)
async def test_pictures_of_the_trace_and_the_dashboard(system: Observed, tmp_path: Path) -> None:
    assert PICTURES is not None
    folder = Path(PICTURES)
    targets = [service.url.removeprefix("http://") for service in system.services.values()]
    with prometheus(targets, tmp_path) as url:
        start = time.time()
        await some_traffic(system)
        await asyncio.sleep(5)
        dashboard = json.loads((OBSERVABILITY / "dashboard.json").read_text())
        page = tmp_path / "dashboard.html"
        page.write_text(dashboard_html(dashboard, url, start=start, end=time.time()))
    # the latest incident that paused a channel and went out to the webhook
    paused = {s.trace_id for s in system.spans.spans if s.name.endswith("channel.paused.v1")}
    posts = [s for s in system.spans.spans if s.name == "post" and s.trace_id in paused]
    trace_id = max(posts, key=lambda s: s.start_ns).trace_id
    trace = [s for s in system.spans.trace(trace_id) if not s.name.endswith((" send", " receive"))]
    (folder / "trace.svg").write_text(trace_svg(trace) + "\n")
    screenshot(page, folder / "dashboard.png")


async def some_traffic(system: Observed) -> None:
    """A few incidents over half a minute: some approved, some left waiting."""
    async with httpx.AsyncClient(timeout=10) as http:
        for n, severity in enumerate(["sev2", "sev3", "sev1", "sev2", "sev4", "sev3"]):
            raised = await http.post(
                f"{system.ingest.url}/v1/incidents",
                headers=system.auth("operator"),
                json={"title": f"Incident {n}", "severity": severity},
            )
            assert raised.status_code == 202, raised.text
            if n % 2:
                continue
            incident_id = raised.json()["incident_id"]

            async def draft(incident_id: str = incident_id) -> list[dict[str, str]] | None:
                response = await http.get(
                    f"{system.router.url}/v1/drafts",
                    params={"state": "pending", "incident_id": incident_id},
                    headers=system.auth("duty_manager"),
                )
                return response.json() or None

            draft_id = (await eventually(draft, what="a draft"))[0]["id"]
            await asyncio.sleep(1)  # a duty manager reads it
            approved = await http.post(
                f"{system.router.url}/v1/drafts/{draft_id}/approve",
                headers=system.auth("duty_manager"),
                json={"channels": ["status", "hook"]},
            )
            assert approved.status_code == 200, approved.text
            await asyncio.sleep(2)
