"""The whole path on real parts: `planb run` (three services as real processes) against a
real broker; an incident goes in at ingest and its approved update comes out on the
status page, with the delivery reported back to the router."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.devtools.broker import free_port
from shared.devtools.sandbox import MastodonPeer, serve
from tests.support import eventually

pytestmark = pytest.mark.e2e

CHANNELS = """
channels:
  - id: status
    type: statuspage
    name: Public status page
    marketing: false
  - id: promo-north
    type: statuspage
    name: Northern announcements
    marketing: true
    tags: {regions: [north]}
"""

MASTODON = """
  - id: masto
    type: mastodon
    name: Mastodon
    url: {url}
    credentials_env: {{access_token: E2E_MASTODON_TOKEN}}
"""


@dataclass
class System:
    ingest: str
    router: str
    publisher: str
    tokens: dict[str, str]
    process: subprocess.Popen[str]
    data_dir: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def _planb_run(
    tmp_path: Path,
    env: dict[str, str],
    topic_prefix: str,
    broker_port: int | None = None,
    channels_yaml: str = CHANNELS,
) -> Iterator[System]:
    """`.venv/bin/planb run` as `make run` starts it (the installed script, not the source
    tree), on free ports and a temporary data dir; CHANNELS_FILE turns the sandbox off."""
    channels = tmp_path / "channels.yaml"
    channels.write_text(channels_yaml)
    ports = [free_port() for _ in range(3)]
    env = {
        **env,
        "TOPIC_PREFIX": topic_prefix,
        "TOPIC_PARTITIONS": "2",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "CHANNELS_FILE": str(channels),
        "DATA_DIR": str(tmp_path / "data"),
    }
    command = [str(Path(sys.executable).with_name("planb")), "run"]  # .venv/bin/planb
    for flag, port in zip(
        ("--ingest-port", "--router-port", "--publisher-port"), ports, strict=True
    ):
        command += [flag, str(port)]
    if broker_port is not None:
        command += ["--broker-port", str(broker_port)]
    log = (tmp_path / "planb.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_line(tmp_path / "planb.log", "Plan B is running", process)
        # CHANNELS_FILE names the channels, so no sandbox is started or written
        assert "Sandbox timelines" not in (tmp_path / "planb.log").read_text()
        assert not (tmp_path / "data" / "channels.yaml").exists()
        tokens = json.loads((tmp_path / "data" / "dev-tokens.json").read_text())
        yield System(
            ingest=f"http://127.0.0.1:{ports[0]}",
            router=f"http://127.0.0.1:{ports[1]}",
            publisher=f"http://127.0.0.1:{ports[2]}",
            tokens=tokens,
            process=process,
            data_dir=tmp_path / "data",
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        log.close()


@pytest.fixture
def mastodon() -> Iterator[tuple[MastodonPeer, str]]:
    """A Mastodon-compatible platform on loopback, a real HTTP server."""
    peer = MastodonPeer(token="e2e-mastodon-token")
    with serve(peer.app) as url:
        yield peer, url


@pytest.fixture
def system(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    mastodon: tuple[MastodonPeer, str],
) -> Iterator[System]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "E2E_MASTODON_TOKEN": mastodon[0].token,
    }
    channels = CHANNELS + MASTODON.format(url=mastodon[1])
    with _planb_run(tmp_path, env, topic_prefix, channels_yaml=channels) as running:
        yield running


def _wait_for_line(path: Path, needle: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if needle in path.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"planb run exited early:\n{path.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"planb run not ready in 90s:\n{path.read_text()}")


async def test_incident_to_status_page_and_a_threaded_mastodon_post(
    system: System, mastodon: tuple[MastodonPeer, str]
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        raised = await http.post(
            f"{system.ingest}/v1/incidents",
            headers=system.auth("operator"),
            json={
                "title": "Trains stuck at Central",
                "severity": "sev2",
                "customer_impact": "Northern line trains are held in tunnels.",
                "affected": {"services": ["trains"], "regions": ["north"]},
                "next_update_in_minutes": 30,
            },
        )
        assert raised.status_code == 202, raised.text
        assert raised.json()["status"] == "accepted"
        incident_id = raised.json()["incident_id"]

        async def pending_draft() -> list[dict[str, object]] | None:
            response = await http.get(
                f"{system.router}/v1/drafts",
                params={"state": "pending", "incident_id": incident_id},
                headers=system.auth("duty_manager"),
            )
            return response.json() or None

        drafts = await eventually(pending_draft, what="a pending draft")
        draft = drafts[0]
        texts = {t["channel_id"]: t["text"] for t in draft["texts"]}  # type: ignore[index]
        assert set(texts) == {"status", "promo-north", "masto"}
        assert "Trains stuck at Central" in texts["status"]
        assert "Next update by" in texts["status"]

        channels = (
            await http.get(f"{system.router}/v1/channels", headers=system.auth("duty_manager"))
        ).json()
        paused = {c["id"]: c["paused"] for c in channels}
        assert paused == {"status": False, "promo-north": True, "masto": False}

        edited = "We're looking into trains stuck at Central. Next update by 14:30."
        response = await http.patch(
            f"{system.router}/v1/drafts/{draft['id']}",
            headers=system.auth("duty_manager"),
            json={"channel_id": "status", "text": edited},
        )
        assert response.status_code == 200, response.text
        # four-eyes (sev2): whoever edited the status text cannot approve it alone
        approve_url = f"{system.router}/v1/drafts/{draft['id']}/approve"
        response = await http.post(
            approve_url, headers=system.auth("duty_manager"), json={"channels": ["status"]}
        )
        assert response.status_code == 403, response.text
        assert "four-eyes rule for sev2" in response.json()["detail"]
        response = await http.post(
            approve_url, headers=system.auth("admin"), json={"channels": ["status", "masto"]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "approved"

        async def on_status_page() -> dict[str, object] | None:
            body = (await http.get(f"{system.publisher}/status.json")).json()
            return body if edited in json.dumps(body) else None

        await eventually(on_status_page, what="the update on /status.json")
        page = await http.get(f"{system.publisher}/status")
        assert page.status_code == 200
        assert "Trains stuck at Central" in page.text
        assert "We&#39;re looking into trains stuck at Central" in page.text

        async def delivered() -> dict[str, object] | None:
            detail = (
                await http.get(
                    f"{system.router}/v1/incidents/{incident_id}",
                    headers=system.auth("duty_manager"),
                )
            ).json()
            states = {d["channel_id"]: d["state"] for d in detail["deliveries"]}
            wanted = {"status": "published", "masto": "published"}
            return detail if states == wanted else None

        detail = await eventually(delivered, what="the published delivery on the router")
        kinds = [entry["kind"] for entry in detail["timeline"]]  # type: ignore[index]
        assert kinds[:3] == ["raised", "paused", "drafted"]
        assert "delivery.published" in kinds

        # a follow-up goes out threaded under the first Mastodon post
        update = await http.post(
            f"{system.ingest}/v1/incidents/{incident_id}/updates",
            headers=system.auth("operator"),
            json={"status": "identified", "message": "A signal failed at Central."},
        )
        assert update.status_code == 202, update.text

        async def second_draft() -> list[dict[str, object]] | None:
            found = await pending_draft()
            return found if found and found[0]["id"] != draft["id"] else None

        follow_up = (await eventually(second_draft, what="the follow-up draft"))[0]
        response = await http.post(
            f"{system.router}/v1/drafts/{follow_up['id']}/approve",
            headers=system.auth("duty_manager"),
            json={"channels": ["masto"]},
        )
        assert response.status_code == 200, response.text
        peer, _ = mastodon

        async def two_posts() -> bool:
            return len(peer.posts) >= 2

        await eventually(two_posts, what="the follow-up on the Mastodon peer")
        first, second = peer.posts
        assert first.reply_to is None
        assert second.reply_to == first.id
        assert "A signal failed at Central." in second.text


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_every_process_broker_included(tmp_path: Path, topic_prefix: str) -> None:
    """Without KAFKA_BOOTSTRAP_SERVERS, `planb run` owns a broker too; Ctrl-C ends all four."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    with _planb_run(tmp_path, env, topic_prefix, broker_port=free_port()) as running:
        children = _children(running.process.pid)
        assert len(children) == 4  # tansu + ingest + router + publisher
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=30) == 0
        assert [pid for pid in children if _alive(pid)] == []
        assert "embedded broker stopped" in (tmp_path / "planb.log").read_text()
