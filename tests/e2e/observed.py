"""The three services as real processes, one incident through them to a webhook peer, for
the observability tests: their logs, their /metrics and their traces (exported over OTLP to
a receiver on loopback).

The path: an operator raises a sev1 incident at ingest (the policy pauses the marketing
channel `promo`), the router drafts it, a duty manager approves it for the status page and
the webhook `hook`, and the publisher posts it to the webhook peer on loopback.
"""

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.devtools.sandbox import WebhookPeer, serve
from tests.e2e.otlp_receiver import OtlpReceiver
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
  - id: promo
    type: statuspage
    name: Announcements
    marketing: true
  - id: hook
    type: webhook
    name: Partner webhook
    url: {url}
    credentials_env: {{secret: OBS_HOOK_SECRET}}
"""


@dataclass
class Observed:
    ingest: ServiceProcess
    router: ServiceProcess
    publisher: ServiceProcess
    peer: WebhookPeer
    spans: OtlpReceiver
    tokens: dict[str, str]
    folder: Path
    peer_origin: str = ""
    incident_id: str = ""
    draft_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, ServiceProcess]:
        return {"ingest": self.ingest, "router": self.router, "publisher": self.publisher}

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def observed_system(
    folder: Path, bootstrap_servers: str, *, env: dict[str, str] | None = None
) -> Iterator[Observed]:
    """The services started with `env` added to their settings (JSON logs, quick metrics)."""
    peer = WebhookPeer(secret="obs-hook-secret")
    receiver = OtlpReceiver()
    with ExitStack() as stack:
        url = stack.enter_context(serve(peer.app))
        collector = stack.enter_context(serve(receiver.app))
        channels = folder / "channels.yaml"
        channels.write_text(CHANNELS.format(url=url + peer.path))
        settings = service_environment(
            folder,
            bootstrap_servers=bootstrap_servers,
            topic_prefix=f"obs{uuid.uuid4().hex[:8]}",
            channels_file=channels,
        ) | {
            "CONFIG_DIR": str(CONFIG_DIR),
            "OBS_HOOK_SECRET": peer.secret,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "METRICS_REFRESH_SECONDS": "0.2",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector}/v1/traces",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            **(env or {}),
        }
        running = {
            name: stack.enter_context(ServiceProcess(name, folder, env=settings))
            for name in ("ingest", "router", "publisher")  # type: ignore[assignment]
        }
        for process in running.values():
            process.start()
        tokens = json.loads((folder / "dev-tokens.json").read_text())
        yield Observed(
            **running, peer=peer, spans=receiver, tokens=tokens, folder=folder, peer_origin=url
        )


async def one_incident_through(system: Observed) -> None:
    """Raise, draft, approve, post: fills `incident_id` and `draft_id`."""
    incident = {"title": "Card payments failing", "severity": "sev1"}
    async with httpx.AsyncClient(timeout=10, headers=system.auth("operator")) as operator:
        raised = await operator.post(f"{system.ingest.url}/v1/incidents", json=incident)
    assert raised.status_code == 202, raised.text
    system.incident_id = raised.json()["incident_id"]
    async with httpx.AsyncClient(timeout=10) as http:

        async def pending_draft() -> list[dict[str, Any]] | None:
            response = await http.get(
                f"{system.router.url}/v1/drafts",
                params={"state": "pending", "incident_id": system.incident_id},
                headers=system.auth("duty_manager"),
            )
            return response.json() or None

        system.draft_id = (await eventually(pending_draft, what="a pending draft"))[0]["id"]
        # someone without a token: a problem (401) on the router's books
        assert (await http.get(f"{system.router.url}/v1/drafts")).status_code == 401
        approved = await http.post(
            f"{system.router.url}/v1/drafts/{system.draft_id}/approve",
            headers=system.auth("duty_manager"),
            json={"channels": ["status", "hook"]},
        )
        assert approved.status_code == 200, approved.text

        async def posted() -> bool:
            return len(system.peer.posts) >= 1

        await eventually(posted, what="the update on the webhook peer")
