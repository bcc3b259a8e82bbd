"""`/metrics`, the API documents and `/readyz`'s details on a port of their own: the review
found them on the public status page's port, without a token, `/readyz` naming the Kafka
address. In production they move to `OPS_PORT` (9100) unless told otherwise."""

from pathlib import Path

import httpx
import pytest

from services.ingest.settings import IngestSettings
from services.publisher.main import create_app
from services.publisher.models import Base
from services.publisher.settings import PublisherSettings
from shared.runtime.service import Runtime
from shared.web.ops_server import OpsServer


async def test_operations_leave_the_public_port_for_their_own(tmp_path: Path) -> None:
    settings = PublisherSettings(
        environment="test", data_dir=tmp_path, ops_port=9100, kafka_bootstrap_servers="127.0.0.1:1"
    )
    app = create_app(settings)
    app.state.runtime = Runtime(settings, metadata=Base.metadata)
    public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pub")
    async with public:
        for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
            assert (await public.get(path)).status_code == 404, path
        ready = await public.get("/readyz")
        assert set(ready.json()) == {"status"}  # for probes; no addresses
    ops = OpsServer(app, host="127.0.0.1", port=0)
    await ops.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops.port}") as inside:
            metrics = await inside.get("/metrics")
            assert "planb_http_requests_total" in metrics.text
            assert "/status" in (await inside.get("/openapi.json")).json()["paths"]
            assert "swagger-ui" in (await inside.get("/docs")).text
            assert "kafka" in (await inside.get("/readyz")).json()["checks"]  # details, inside
            assert (await inside.get("/healthz")).headers["x-content-type-options"] == "nosniff"
    finally:
        await ops.stop()


@pytest.mark.parametrize(
    ("environment", "ops_port", "resolved"),
    [
        ("production", None, 9100),
        ("production", 0, None),
        ("local", None, None),
        ("test", 9200, 9200),
    ],
)
def test_production_serves_operations_on_their_own_port_by_default(
    tmp_path: Path, environment: str, ops_port: int | None, resolved: int | None
) -> None:
    settings = IngestSettings(
        environment=environment,  # type: ignore[arg-type]
        ops_port=ops_port,
        database_url="sqlite+aiosqlite:///x.db",
        tokens_file=tmp_path / "tokens.json",
        accounts_database_url="sqlite+aiosqlite:///x.db",
    )
    assert settings.resolved_ops_port() == resolved
