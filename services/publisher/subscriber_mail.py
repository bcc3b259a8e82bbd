"""Subscribers' mail over SMTP (aiosmtplib): one connection kept open and reused, STARTTLS or
TLS and authentication from `SMTP_URL`, plain-text and HTML parts, a one-click unsubscribe
(RFC 8058 `List-Unsubscribe` and `List-Unsubscribe-Post`) in every mail.

A 5xx answer to a recipient is a bounce (permanent); a 4xx, a lost connection or a timeout is
temporary, and the connection is opened afresh for the next mail.
"""

import html
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.publisher.channels.protocol import PermanentChannelError, RetryableChannelError
from services.publisher.subscriber_notes import Note
from shared.contract.events import utcnow


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None  # None: when the server offers it
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        parts = urlsplit(url)
        schemes = {
            "smtp": (False, None, 25),
            "smtp+starttls": (False, True, 587),
            "smtps": (True, False, 465),
        }
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port]")
        use_tls, start_tls, port = schemes[parts.scheme]
        return cls(
            hostname=parts.hostname,
            port=parts.port or port,
            use_tls=use_tls,
            start_tls=start_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class MailSender:
    """Sends notes as mail through one SMTP connection (the notifier sends one at a time)."""

    def __init__(self, config: SmtpConfig, *, sender: str, timeout: float) -> None:
        self.config = config
        self.sender = sender
        self.timeout = timeout
        self._smtp: aiosmtplib.SMTP | None = None

    async def send(self, note: Note) -> None:
        message = compose(note, sender=self.sender)
        try:
            smtp = await self._connected()
            await smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            refusal = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if all(code >= 500 for code in codes):
                raise PermanentChannelError(f"mail server refused the address: {refusal}") from exc
            raise RetryableChannelError(f"mail server deferred: {refusal}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._drop()
            if exc.code >= 500 and exc.code not in (421, 554):
                raise PermanentChannelError(
                    f"mail server refused: {exc.code} {exc.message}"
                ) from exc
            raise RetryableChannelError(f"mail server: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._drop()
            raise RetryableChannelError(f"mail server unreachable: {exc}") from exc

    async def close(self) -> None:
        await self._drop()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self.config.hostname,
            port=self.config.port,
            use_tls=self.config.use_tls,
            start_tls=self.config.start_tls,
            username=self.config.username,
            password=self.config.password,
            timeout=self.timeout,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()


def compose(note: Note, *, sender: str) -> Message:
    """The mail for `note`: its Message-ID derives from the idempotency key, so a receiver
    that dedupes by it sees one message. Built with the `email.mime` classes (the compat32
    policy): `EmailMessage`'s header registry made composing and flattening a mail ~4x
    slower, the notifier's largest cost per mail."""
    message = MIMEMultipart("alternative")
    message["From"] = sender
    message["To"] = note.address
    message["Date"] = format_datetime(utcnow())
    domain = sender.rpartition("@")[2].rstrip(">") or "planb.invalid"
    message["Message-ID"] = f"<{note.key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{note.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if note.update is None:
        message["Subject"] = _header(f"Confirm your subscription to {note.page_title}")
        text = (
            f"Someone (we hope you) asked for updates from {note.page_title} at this address.\n\n"
            f"Confirm: {note.confirm_url}\n\n"
            "If it was not you, ignore this mail: nothing more will be sent.\n"
        )
        body = (
            f"<p>Someone (we hope you) asked for updates from {html.escape(note.page_title)} at "
            f'this address.</p><p><a href="{html.escape(note.confirm_url)}">Confirm the '
            "subscription</a></p><p>If it was not you, ignore this mail: nothing more will be "
            "sent.</p>"
        )
    else:
        update = note.update
        message["Subject"] = _header(f"[{note.page_title}] {update.title}: {update.status}")
        text = (
            f"{update.title} — {update.status}\n\n{update.text}\n\n"
            f"Follow it: {update.url}\n\nUnsubscribe: {note.unsubscribe_url}\n"
        )
        body = (
            f"<h1>{html.escape(update.title)} — {html.escape(update.status)}</h1>"
            f'<p style="white-space: pre-wrap">{html.escape(update.text)}</p>'
            f'<p><a href="{html.escape(update.url)}">Follow it on the status page</a></p>'
            f'<p><small><a href="{html.escape(note.unsubscribe_url)}">Unsubscribe</a></small></p>'
        )
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(f"<!doctype html><html><body>{body}</body></html>", "html", "utf-8"))
    return message


def _header(text: str) -> str:
    """A header value on one line (published texts may hold line breaks, a header may not),
    RFC 2047-encoded when it is not ASCII."""
    line = " ".join(text.split())
    return line if line.isascii() else Header(line, "utf-8").encode()
