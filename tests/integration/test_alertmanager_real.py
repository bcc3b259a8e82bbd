"""A real Alertmanager (Debian's `prometheus-alertmanager`) posting to ingest's webhook over
loopback: alerts pushed into it through its API raise one incident per group, whose
reference names the group (alertname and group labels) and links back to Alertmanager, and
whose title falls back to the alertname when no annotation gives one."""

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.ingest.main import create_app
from shared.contract.events import IncidentRaised
from shared.contract.topics import Topics
from shared.devtools.broker import free_port
from shared.web.auth import generate_dev_tokens
from tests.integration.ingest_harness import ingest_settings, read_events
from tests.support import eventually

SECRET = "am-shared-secret-for-tests-0123456789"
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="no Alertmanager binary (apt-get install prometheus-alertmanager; .ci/run does)",
)

CONFIG = """\
route:
  receiver: planb
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: planb
    webhook_configs:
      - url: http://127.0.0.1:{ingest_port}/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {secret}
"""


@pytest.fixture
async def ingest_port(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> AsyncIterator[int]:
    """Ingest served by uvicorn on a loopback port, as Alertmanager reaches it."""
    generate_dev_tokens(tmp_path)
    settings = ingest_settings(
        tmp_path, bootstrap_servers, topic_prefix, database_url, alertmanager_token=SECRET
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started or serving.done()

    await eventually(started, what="ingest serving")
    if serving.done():
        await serving  # its start failed: raise why
    yield port
    server.should_exit = True
    await serving


@pytest.fixture
async def alertmanager(tmp_path: Path, ingest_port: int) -> AsyncIterator[str]:
    """A real Alertmanager, alone (no cluster), sending its groups to ingest."""
    assert BINARY is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(ingest_port=ingest_port, secret=SECRET))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "alertmanager.log"
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url={url}",
            "--cluster.listen-address=",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return process.returncode is not None  # it died: stop waiting, fail below

            await eventually(ready, what="Alertmanager ready")
        assert process.returncode is None, log.read_text()
        yield url
    finally:
        process.terminate()
        await process.wait()


async def test_a_real_alertmanager_raises_incidents_that_name_their_group(
    alertmanager: str, bootstrap_servers: str, topic_prefix: str
) -> None:
    alerts = [
        {"labels": {"alertname": "DiskFull", "cluster": cluster, "instance": instance}}
        for cluster, instance in (("eu1", "db1"), ("eu1", "db2"), ("us1", "db7"))
    ]
    async with httpx.AsyncClient(base_url=alertmanager) as client:
        pushed = await client.post("/api/v2/alerts", json=alerts)
    assert pushed.status_code == 200, pushed.text

    events = await read_events(bootstrap_servers, Topics(topic_prefix).incidents, 2, within=60)

    raised = [e.data for e in events if isinstance(e.data, IncidentRaised)]
    assert sorted(r.external_ref or "" for r in raised) == [
        f'{alertmanager}/#/alerts?filter={{alertname="DiskFull",cluster="eu1"}}',
        f'{alertmanager}/#/alerts?filter={{alertname="DiskFull",cluster="us1"}}',
    ]
    assert {r.title for r in raised} == {"DiskFull"}  # no summary annotation: the alertname
