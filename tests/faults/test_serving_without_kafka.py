"""The broker goes away: the router and the publisher go on serving what they own, and say
they are degraded, not unavailable.

On Kubernetes a 503 from /readyz takes a pod out of its Service: the router and publisher
answered 503 whenever Kafka was unreachable, so a Kafka outage took the public status page
and the duty managers' console down in the middle of the incident. Both are served from the
services' own databases. Real processes (tests/processes.py) on a broker of this test's own,
which is killed, then replaced by a fresh one on the same port.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.devtools.broker import EmbeddedBroker
from shared.web.auth import generate_dev_tokens
from tests.faults.own_broker import fresh_broker, services_on_own_broker
from tests.processes import ServiceProcess
from tests.support import eventually

pytestmark = pytest.mark.faults

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class System:
    router: ServiceProcess
    publisher: ServiceProcess
    tokens: dict[str, str]
    broker_port: int
    folder: Path

    def broker(self) -> EmbeddedBroker:
        return fresh_broker(self.broker_port, self.folder)


@pytest.fixture
def system(tmp_path: Path, topic_prefix: str) -> Iterator[System]:
    quick = {"KAFKA_REQUEST_TIMEOUT_MS": "1000"}
    with services_on_own_broker(tmp_path, topic_prefix, ("router", "publisher"), env=quick) as (
        processes,
        port,
    ):
        yield System(
            router=processes["router"],
            publisher=processes["publisher"],
            tokens=generate_dev_tokens(tmp_path),
            broker_port=port,
            folder=tmp_path,
        )


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()


def cookie_of(response: httpx.Response) -> dict[str, str]:
    """The console's cookie is `Secure`, which a browser sends to localhost over plain HTTP
    and httpx's cookie jar does not: passed on by hand."""
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in response.cookies.items())}


async def signed_in_console(router: httpx.AsyncClient, token: str) -> httpx.Response:
    """A duty manager signs in to the console and opens its front page."""
    login = await router.get("/console/login")
    assert login.status_code == 200, login.text
    csrf = CSRF.search(login.text)
    assert csrf is not None
    signed = await router.post(
        "/console/login",
        data={"csrf": csrf.group(1), "token": token, "next": "/console"},
        headers=cookie_of(login),
    )
    assert signed.status_code == 303, signed.text
    return await router.get("/console", headers=cookie_of(signed))


async def test_status_page_and_console_stay_served_and_ready_while_kafka_is_down(
    system: System,
) -> None:
    broker = system.broker()
    try:
        system.router.start()
        system.publisher.start()
        async with (
            httpx.AsyncClient(base_url=f"http://localhost:{system.router.port}") as router,
            httpx.AsyncClient(base_url=system.publisher.url) as publisher,
        ):
            assert (await readiness(router))[1]["status"] == "ready"
            assert broker.process is not None
            broker.process.kill()
            broker.process.wait()

            for service in (router, publisher):

                async def not_ready(client: httpx.AsyncClient = service) -> bool:
                    return (await readiness(client))[1]["status"] != "ready"

                await eventually(not_ready, within=60, what="Kafka seen unreachable")
                status, body = await readiness(service)
                assert (status, body["status"]) == (200, "degraded"), body
                kafka = body["checks"]["kafka"]  # type: ignore[index]
                assert kafka["detail"].startswith("degraded: Kafka unreachable"), kafka
                assert (await service.get("/healthz")).status_code == 200

            page = await publisher.get("/status")
            assert page.status_code == 200
            assert "<html" in page.text.lower()
            assert (await publisher.get("/status.json")).status_code == 200
            console = await signed_in_console(router, system.tokens["duty_manager"])
            assert console.status_code == 200, console.text

            broker.stop()
            broker = system.broker()  # empty: the services recreate their topics

            async def ready_again() -> bool:
                answers = [await readiness(client) for client in (router, publisher)]
                return all(body["status"] == "ready" for _status, body in answers)

            await eventually(ready_again, within=90, what="both ready once Kafka is back")
    finally:
        broker.stop()
