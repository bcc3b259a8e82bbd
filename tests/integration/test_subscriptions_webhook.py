"""Webhook subscriptions on real parts: the publisher app, the broker, a database and a
receiver on loopback that checks every signature with the secret it chose. Nothing but the
verification ping reaches it before it answers the ping; then each update once, signed; a
receiver that never answers the ping gets nothing. A public form may not name a private
address."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.contract.webhook_signature import verify_signature
from shared.devtools.sandbox import serve
from tests.integration.publisher_app import incident_ref, running_publisher
from tests.support import eventually

SECRET = "receiver-chosen-secret-0123456789"


@dataclass
class Receiver:
    answer_ping: bool = True
    received: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    forged: int = 0

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        if not verify_signature(
            SECRET,
            timestamp=request.headers.get("X-PlanB-Timestamp", ""),
            body=body,
            signature=request.headers.get("X-PlanB-Signature", ""),
        ):
            self.forged += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        document = json.loads(body)
        self.received.append(document)
        self.keys.append(request.headers["Idempotency-Key"])
        if document["type"] == "planb.subscription.verify" and self.answer_ping:
            return JSONResponse({"challenge": document["challenge"]})
        return JSONResponse({})

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.received if d["type"] == kind]


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, str, Receiver, str]]:
    good, mute = Receiver(), Receiver(answer_ping=False)
    app = Starlette(
        routes=[
            Route("/good", good.hook, methods=["POST"]),
            Route("/mute", mute.hook, methods=["POST"]),
        ]
    )
    with serve(app) as url:
        yield good, f"{url}/good", mute, f"{url}/mute"


async def test_a_verified_webhook_gets_each_update_signed_once(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
    receivers: tuple[Receiver, str, Receiver, str],
) -> None:
    good, good_url, mute, mute_url = receivers
    async with running_publisher(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        database_url=database_url,
        subscriber_poll_seconds=0.05,
        subscriber_webhooks_private=True,
    ) as publisher:
        for url in (good_url, mute_url):
            answer = await publisher.client.post(
                "/status/subscriptions", json={"webhook_url": url, "secret": SECRET}
            )
            assert answer.status_code == 202, answer.text

        async def pinged() -> bool:
            return bool(good.of("planb.subscription.verify") and mute.received)

        await eventually(pinged, what="both verification pings")

        async def active() -> bool:
            answer = await publisher.client.post(
                "/v1/subscribers/export",
                json={"address": good_url},
                headers=publisher.auth("admin"),
            )
            return bool(answer.json()[0]["state"] == "active")

        await eventually(active, what="the good receiver's subscription active")

        await publisher.raise_incident("inc_1", regions=["north"])
        ref = incident_ref("inc_1", severity="sev3", status="investigating")
        await publisher.publish_update(ref, message_id="msg-1", text="Lifts out of order.")

        async def updated() -> list[dict[str, Any]] | None:
            return good.of("planb.status.update") or None

        (update,) = await eventually(updated, what="the update at the good receiver")
        assert update["text"] == "Lifts out of order."
        assert update["url"] == "https://status.example.test/status#inc_1"
        assert update["unsubscribe_url"].startswith("https://status.example.test/status/")
        assert len(set(good.keys)) == len(good.keys)  # one idempotency key per message
        assert good.forged == 0
        assert mute.of("planb.status.update") == []  # never verified, never sent to
        (muted,) = (
            await publisher.client.post(
                "/v1/subscribers/export",
                json={"address": mute_url},
                headers=publisher.auth("admin"),
            )
        ).json()
        assert muted["state"] == "pending"


async def test_a_public_form_may_not_name_a_private_address(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> None:
    async with running_publisher(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        database_url=database_url,
    ) as publisher:
        for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/x"):
            answer = await publisher.client.post(
                "/status/subscriptions", json={"webhook_url": url, "secret": SECRET}
            )
            assert answer.status_code == 422, url
            assert answer.json()["type"].endswith("/webhook-not-public")


async def test_the_public_form_is_paced(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> None:
    async with running_publisher(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        database_url=database_url,
        subscriber_webhooks_private=True,
        subscribe_per_minute=2,
    ) as publisher:
        answers = [
            await publisher.client.post(
                "/status/subscriptions",
                json={"webhook_url": f"http://127.0.0.1:9/hook{n}", "secret": SECRET},
            )
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].headers["Retry-After"] == "60"
    assert answers[2].json()["type"].endswith("/too-many-subscriptions")
