"""Building the subscribers' notifier from the settings: which senders exist (mail only with
`SMTP_URL`), the links mail carries, the retry schedule the channels use."""

import httpx

from services.publisher.components import ComponentsFile
from services.publisher.notifier import Notifier
from services.publisher.notifier_batch import Links
from services.publisher.settings import PublisherSettings
from services.publisher.subscriber_mail import MailSender, SmtpConfig
from services.publisher.subscriber_notes import SubscriberSender
from services.publisher.subscriber_webhook import WebhookSender
from shared.runtime.database import Database


def build_notifier(
    settings: PublisherSettings,
    database: Database,
    *,
    components: ComponentsFile,
    client: httpx.AsyncClient,
) -> Notifier:
    senders: dict[str, SubscriberSender] = {}
    if settings.smtp_url is not None:
        senders["email"] = MailSender(
            SmtpConfig.from_url(settings.smtp_url.get_secret_value()),
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout_seconds,
        )
    senders["webhook"] = WebhookSender(client)
    return Notifier(
        database,
        senders=senders,
        components=components,
        links=Links(
            base_url=settings.public_base_url,
            page_title=settings.status_page_title,
            secret=settings.subscription_secret.get_secret_value(),
        ),
        policy=settings.retry_policy(),
        rate=settings.subscriber_send_rate,
        batch=settings.subscriber_batch,
        poll_seconds=settings.subscriber_poll_seconds,
        lease_seconds=settings.sending_lease_seconds,
    )
