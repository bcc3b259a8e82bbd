"""The mail a subscriber gets: one-line headers whatever the texts hold, a Message-ID from
the idempotency key, the one-click unsubscribe."""

from datetime import UTC, datetime

from services.publisher.subscriber_mail import SmtpConfig, compose
from services.publisher.subscriber_notes import Note, Update


def test_a_title_with_line_breaks_makes_a_one_line_subject() -> None:
    update = Update(
        message_id="m",
        incident_id="inc",
        title="Signal\nfailure",
        status="investigating",
        text="Delays.",
        url="https://s.test/status#inc",
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    note = Note(
        key="k",
        subscriber_id="sub_1",
        address="ada@example.test",
        page_title="Rail status",
        page_url="https://s.test/status",
        confirm_url="https://s.test/c",
        unsubscribe_url="https://s.test/u",
        update=update,
    )
    mail = compose(note, sender="Rail <status@rail.test>")
    assert mail["Subject"] == "[Rail status] Signal failure: investigating"
    assert mail["Message-ID"] == "<k@rail.test>"
    assert mail["List-Unsubscribe"] == "<https://s.test/u>"


def test_smtp_url_gives_tls_and_credentials() -> None:
    plain = SmtpConfig.from_url("smtp://mail.test")
    assert (plain.port, plain.use_tls, plain.start_tls) == (25, False, None)
    tls = SmtpConfig.from_url("smtps://user%40x:p%3Ass@mail.test")
    assert (tls.port, tls.use_tls, tls.username, tls.password) == (465, True, "user@x", "p:ss")
    assert SmtpConfig.from_url("smtp+starttls://mail.test:2525").start_tls is True
