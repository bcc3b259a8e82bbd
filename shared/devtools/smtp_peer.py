"""A real SMTP server on loopback (aiosmtpd) for tests, the bench and the demo: it keeps what
it receives, refuses the addresses it is told to (a 550 at RCPT: a bounce) and defers others
(a 451: a temporary failure). Dev dependency only: nothing a service runs imports it."""

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.devtools.broker import free_port


@dataclass
class SmtpPeer:
    """The mailbox: every accepted message, parsed; `refuse` and `defer` by address."""

    refuse: set[str] = field(default_factory=set)
    defer: dict[str, int] = field(default_factory=dict)  # address → how many times
    messages: list[EmailMessage] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # each message's Message-ID, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        with self.lock:
            if self.defer.get(address, 0) > 0:
                self.defer[address] -= 1
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(parsed)
            self.ids.append(str(parsed["Message-ID"]))
        return "250 Message accepted"

    def count(self, marker: str) -> int:
        """How many messages whose Message-ID contains `marker` arrived (cheap to poll)."""
        with self.lock:
            return sum(marker in i for i in self.ids)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@contextmanager
def serve_smtp(peer: SmtpPeer, *, port: int | None = None) -> Iterator[str]:
    """Run `peer` on 127.0.0.1; yields its `SMTP_URL`."""
    chosen = port or free_port()
    controller = Controller(peer, hostname="127.0.0.1", port=chosen)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{chosen}"
    finally:
        controller.stop()
