"""Email subscriptions end to end on real parts: the publisher app, the broker, a database, and
a real SMTP server on loopback (aiosmtpd). A reader subscribes, gets the confirmation, confirms,
gets the update about their line (not another line's), unsubscribes in one click and gets no
more; a deferred mail arrives on a retry, a refused address is marked bounced; an admin exports
and erases an address."""

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shared.devtools.smtp_peer import SmtpPeer, serve_smtp
from tests.integration.publisher_app import RunningPublisher, incident_ref, running_publisher
from tests.support import eventually

COMPONENTS = """
components:
  - {id: north-line, name: North line, regions: [north]}
  - {id: south-line, name: South line, regions: [south]}
"""


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpPeer, str]]:
    peer = SmtpPeer()
    with serve_smtp(peer) as url:
        yield peer, url


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _mails(peer: SmtpPeer, address: str, count: int) -> list[EmailMessage]:
    async def arrived() -> list[EmailMessage] | None:
        found = peer.to(address)
        return found if len(found) >= count else None

    return await eventually(arrived, within=30, what=f"{count} mails to {address}")


async def _subscribe(
    publisher: RunningPublisher, peer: SmtpPeer, address: str, components: list[str]
) -> None:
    answer = await publisher.client.post(
        "/status/subscriptions", json={"email": address, "components": components}
    )
    assert answer.status_code == 202, answer.text
    (confirmation,) = await _mails(peer, address, 1)
    assert confirmation["Subject"].startswith("Confirm your subscription")
    link = re.search(r"Confirm: (\S+)", _text(confirmation))
    assert link is not None
    confirmed = await publisher.client.get(_path(link.group(1)))
    assert confirmed.status_code == 200
    assert "Subscribed" in confirmed.text


async def test_subscribe_confirm_receive_unsubscribe_by_email(
    tmp_path: Path,
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
    smtp: tuple[SmtpPeer, str],
) -> None:
    peer, smtp_url = smtp
    async with running_publisher(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        database_url=database_url,
        files={"components.yaml": COMPONENTS},
        smtp_url=smtp_url,
        smtp_from="Rail status <status@rail.example.test>",
        subscriber_poll_seconds=0.05,
        retry_base_seconds=0.05,
    ) as publisher:
        page = (await publisher.client.get("/status")).text
        assert 'action="https://status.example.test/status/subscribe"' in page
        await _subscribe(publisher, peer, "ada@example.test", ["north-line"])
        await _subscribe(publisher, peer, "bob@example.test", ["south-line"])
        await _subscribe(publisher, peer, "carol@example.test", [])
        await _subscribe(publisher, peer, "dave@example.test", [])
        peer.defer["carol@example.test"] = 1  # the first try is deferred (451)
        peer.refuse.add("dave@example.test")  # the mailbox is gone (550)

        await publisher.raise_incident("inc_north", regions=["north"])
        ref = incident_ref("inc_north", severity="sev2", status="investigating")
        await publisher.publish_update(ref, message_id="msg-1", text="No trains north of X.")

        _, update = await _mails(peer, "ada@example.test", 2)
        assert update["Subject"] == "[Service status] Signal failure: investigating"
        assert "No trains north of X." in _text(update)
        assert "https://status.example.test/status#inc_north" in _text(update)
        html = update.get_body(preferencelist=("html",))
        assert html is not None
        assert "No trains north of X." in str(html.get_content())
        unsubscribe = update["List-Unsubscribe"].strip().strip("<>")  # folded: a long line
        assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        await _mails(peer, "carol@example.test", 2)  # after one deferral

        async def bounced() -> bool:
            (dave,) = await publisher.export("dave@example.test")
            return dave["state"] == "bounced"

        await eventually(bounced, what="dave marked bounced")
        (bob,) = await publisher.export("bob@example.test")
        assert [n["message_id"] for n in bob["notifications"]] == ["confirm"]

        one_click = await publisher.client.post(
            _path(unsubscribe),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        assert "Unsubscribed" in one_click.text

        resolved = incident_ref("inc_north", severity="sev2", status="resolved")
        await publisher.publish_update(resolved, message_id="msg-2", text="Trains run again.")
        await _mails(peer, "carol@example.test", 3)
        assert len(peer.to("ada@example.test")) == 2  # nothing after the unsubscribe
        (ada,) = await publisher.export("ada@example.test")
        assert ada["state"] == "unsubscribed"
        assert len(peer.to("carol@example.test")) == 3  # once per message, the retry included

        erased = await publisher.client.post(
            "/v1/subscribers/erase",
            json={"address": "ada@example.test"},
            headers=publisher.auth("admin"),
        )
        assert erased.json() == {"erased": 1}
        assert await publisher.export("ada@example.test") == []
        refused = await publisher.client.post(
            "/v1/subscribers/export",
            json={"address": "carol@example.test"},
            headers=publisher.auth("duty_manager"),
        )
        assert refused.status_code == 403
