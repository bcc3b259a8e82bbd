"""Subscribers: one status update to 10,000 email subscribers of one region (1,000 with
--quick), through the publisher's notifier in a process of its own, to a real SMTP server on
loopback (aiosmtpd, in the bench process). Figures: the floor (a bare aiosmtplib loop to the
same server, in the same run), the rate and the time from the status-page entry to the last
mail; the throttle (`SUBSCRIBER_SEND_RATE`) holding a set
rate; and the notifier killed with SIGKILL in the middle of a fan-out, restarted: how many
mails arrived twice (the promise: none) and how many were given up as "may have gone".

`python -m bench.subscribers DATABASE_URL SMTP_URL RATE LEASE_SECONDS` is the notifier
process: the publisher's own `build_notifier` over that database, looping until killed.
"""

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from pydantic import SecretStr
from sqlalchemy import func, insert, select

from bench.system import Bench
from services.publisher.components import ComponentsFile
from services.publisher.models import (
    Base,
    IncidentTags,
    Notification,
    StatusEntry,
    Subscriber,
    SubscriberFanout,
)
from services.publisher.notifier_setup import build_notifier
from services.publisher.settings import PublisherSettings
from services.publisher.subscriber_mail import SmtpConfig
from shared.devtools.smtp_peer import SmtpPeer, serve_smtp
from shared.runtime.database import Database
from tests.databases import scratch_database

FLOOR = 1_000
UNTHROTTLED = 10_000.0  # the setting's ceiling: in effect no throttle on loopback
SOUTH = 200
THROTTLE = 20.0


async def run(bench: Bench) -> dict[str, Any]:
    count = bench.samples(10_000, 1_000)
    results: dict[str, Any] = {"subscribers": count}
    with scratch_database(bench.root, "subscribers", server=bench.database_server) as url:
        database = Database(url)
        await database.create_all(Base.metadata)
        try:
            await subscribe_readers(database, count)
            peer = SmtpPeer()
            with serve_smtp(peer) as smtp_url:
                results["smtp_floor"] = await smtp_floor(peer, smtp_url, FLOOR)
                bench.progress(f"subscribers smtp floor: {results['smtp_floor']}")
                results["fan_out"] = await _fan_out(
                    bench,
                    database,
                    peer,
                    url=url,
                    smtp_url=smtp_url,
                    message="msg-fast",
                    incident_id="inc_north",
                    wanted=count,
                )
                results["throttled"] = await _fan_out(
                    bench,
                    database,
                    peer,
                    url=url,
                    smtp_url=smtp_url,
                    message="msg-throttled",
                    incident_id="inc_south",
                    wanted=SOUTH,
                    rate=THROTTLE,
                )
                results["throttled"]["set_rate_per_s"] = THROTTLE
                results["kill9"] = await kill_mid_fan_out(
                    database,
                    peer,
                    url=url,
                    smtp_url=smtp_url,
                    wanted=count,
                    progress=bench.progress,
                )
        finally:
            await database.dispose()
    return results


async def subscribe_readers(database: Database, count: int) -> None:
    """`count` readers of the north, and `SOUTH` of the south (the throttle's run)."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"sub_{region}_{n:08d}",
            "kind": "email",
            "address": f"{region}{n}@example.test",
            "components": [],
            "regions": [region],
            "state": "active",
            "created_at": now,
            "updated_at": now,
        }
        for region, size in (("north", count), ("south", SOUTH))
        for n in range(size)
    ]
    async with database.transaction() as session:
        await session.execute(insert(Subscriber), rows)
        session.add(IncidentTags(incident_id="inc_north", services=[], regions=["north"]))
        session.add(IncidentTags(incident_id="inc_south", services=[], regions=["south"]))


async def _publish(database: Database, message: str, incident_id: str) -> float:
    """What the status page's channel writes for an approved update: its entry and fan-out."""
    async with database.transaction() as session:
        session.add(
            StatusEntry(
                incident_id=incident_id,
                title="Signal failure",
                severity="sev2",
                status="investigating",
                message_id=message,
                text="Trains north of X are delayed by 20 minutes.",
            )
        )
        session.add(SubscriberFanout(message_id=message, incident_id=incident_id))
    return time.perf_counter()


async def _fan_out(
    bench: Bench,
    database: Database,
    peer: SmtpPeer,
    *,
    url: str,
    smtp_url: str,
    message: str,
    incident_id: str,
    wanted: int,
    rate: float = UNTHROTTLED,
) -> dict[str, Any]:
    worker = await _worker(url, smtp_url, rate=rate, lease=30)
    try:
        started = await _publish(database, message, incident_id)
        first, last = await _until_received(peer, message, wanted, started, worker)
        await _wait(lambda: False, until=lambda: _settled(database, message))
    finally:
        _kill(worker)
        await worker.wait()
    elapsed = last - started
    figures = {
        "mails": wanted,
        "time_to_first_s": round(first - started, 2),
        "time_to_last_s": round(elapsed, 2),
        "rate_per_s": round(wanted / elapsed, 1),
    }
    bench.progress(f"subscribers {message}: {figures}")
    return figures


async def kill_mid_fan_out(
    database: Database,
    peer: SmtpPeer,
    *,
    url: str,
    smtp_url: str,
    wanted: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """SIGKILL once a third has gone out, a new notifier after the lease (2 s) ran out."""
    message = "msg-kill9"
    worker = await _worker(url, smtp_url, rate=UNTHROTTLED, lease=2)
    started = await _publish(database, message, "inc_north")
    await _wait(lambda: peer.count(message) >= wanted // 3)
    _kill(worker)
    await worker.wait()
    at_kill = peer.count(message)
    survivor = await _worker(url, smtp_url, rate=UNTHROTTLED, lease=2)
    try:
        await _wait(lambda: False, until=lambda: _settled(database, message), within=1800)
    finally:
        _kill(survivor)
        await survivor.wait()
    got = Counter(m["To"] for m in _received(peer, message))
    failed = await _count(database, message, "failed")
    figures = {
        "mails_before_kill": at_kill,
        "received": len(got),
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "given_up_as_may_have_gone": failed,
        "never_received": wanted - len(got),
        "time_to_settled_s": round(time.perf_counter() - started, 1),
    }
    progress(f"subscribers kill -9: {figures}")
    return figures


async def _worker(url: str, smtp_url: str, *, rate: float, lease: float) -> Any:
    """The notifier process, once it has started (its imports are not the fan-out's time)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.subscribers",
        url,
        smtp_url,
        str(rate),
        str(lease),
        cwd=Path(__file__).parent.parent,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    await process.stdout.readline()  # "ready"
    return process


async def smtp_floor(peer: SmtpPeer, smtp_url: str, count: int) -> dict[str, Any]:
    """The same server, the same kind of mail, no notifier: one connection sending `count`
    mails in a loop (the most this machine and this server take, in the same run)."""
    config = SmtpConfig.from_url(smtp_url)
    client = aiosmtplib.SMTP(hostname=config.hostname, port=config.port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    try:
        for n in range(count):
            message = EmailMessage()
            message["From"], message["To"] = "status@example.test", f"floor{n}@example.test"
            message["Subject"], message["Message-ID"] = "floor", f"<floor-{n}@example.test>"
            message.set_content("Trains north of X are delayed by 20 minutes.")
            message.add_alternative("<p>Trains north of X are delayed.</p>", subtype="html")
            await client.send_message(message)
    finally:
        await client.quit()
    elapsed = time.perf_counter() - started
    return {"mails": count, "seconds": round(elapsed, 2), "rate_per_s": round(count / elapsed, 1)}


def _kill(process: Any) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)


def _received(peer: SmtpPeer, message: str) -> list[Any]:
    with peer.lock:
        return [m for m, i in zip(peer.messages, peer.ids, strict=True) if message in i]


async def _until_received(
    peer: SmtpPeer, message: str, wanted: int, started: float, worker: Any
) -> tuple[float, float]:
    first = None
    while True:
        if worker.returncode is not None:
            raise RuntimeError(f"the notifier process exited ({worker.returncode})")
        got = peer.count(message)
        if got and first is None:
            first = time.perf_counter()
        if got >= wanted:
            return first or started, time.perf_counter()
        if time.perf_counter() - started > 1800:
            raise TimeoutError(f"{got} of {wanted} mails in 1,800 s")
        await asyncio.sleep(0.05)


async def _wait(
    ready: Any, *, until: Any = None, within: float = 300, interval: float = 0.05
) -> None:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if ready() or (until is not None and await until()):
            return
        await asyncio.sleep(interval)
    raise TimeoutError("bench.subscribers: waited too long")


async def _count(database: Database, message: str, state: str) -> int:
    async with database.sessions() as session:
        query = select(func.count()).where(
            Notification.message_id == message, Notification.state == state
        )
        return int(await session.scalar(query) or 0)


async def _settled(database: Database, message: str) -> bool:
    async with database.sessions() as session:
        open_ = await session.scalar(
            select(func.count()).where(
                Notification.message_id == message,
                Notification.state.in_(("pending", "sending")),
            )
        )
        made = await session.scalar(
            select(SubscriberFanout.expanded_at).where(SubscriberFanout.message_id == message)
        )
    return made is not None and not open_


async def _notifier(url: str, smtp_url: str, rate: float, lease: float) -> None:
    settings = PublisherSettings(
        database_url=url,
        smtp_url=SecretStr(smtp_url),
        subscriber_send_rate=rate,
        subscriber_poll_seconds=0.05,
        sending_lease_seconds=lease,
        data_dir=Path("/tmp"),
    )
    database = Database(url)
    async with httpx.AsyncClient() as client:
        notifier = build_notifier(settings, database, components=ComponentsFile(), client=client)
        print("ready", flush=True)
        await notifier.run()


if __name__ == "__main__":
    asyncio.run(_notifier(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
