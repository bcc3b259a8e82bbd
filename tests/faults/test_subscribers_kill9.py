"""The subscribers' notifier killed with SIGKILL in the middle of a fan-out (a process of its
own, the bench's), then a fresh one after the lease: no subscriber gets a mail twice, every
notification is settled, and what may have gone when it died is given up, never resent
(at most one claimed batch). Real SMTP server on loopback, real database."""

from pathlib import Path

from bench.subscribers import kill_mid_fan_out, subscribe_readers
from services.publisher.models import Base
from shared.devtools.smtp_peer import SmtpPeer, serve_smtp
from shared.runtime.database import Database

READERS = 300


async def test_no_mail_twice_after_kill9_mid_fan_out(tmp_path: Path, database_url: str) -> None:
    database = Database(database_url)
    await database.create_all(Base.metadata)
    try:
        await subscribe_readers(database, READERS)
        peer = SmtpPeer()
        with serve_smtp(peer) as smtp_url:
            figures = await kill_mid_fan_out(
                database, peer, url=database_url, smtp_url=smtp_url, wanted=READERS
            )
    finally:
        await database.dispose()
    assert figures["duplicates"] == 0
    assert figures["mails_before_kill"] >= READERS // 3
    assert figures["received"] + figures["never_received"] == READERS
    assert figures["never_received"] <= figures["given_up_as_may_have_gone"] <= 20  # one batch
