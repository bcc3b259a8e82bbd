"""Subscription routes: public ones on the status page (subscribe, confirm, unsubscribe, the
one-click unsubscribe of RFC 8058) and an admin's export and erasure of an address."""

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher import subscriptions
from services.publisher.deps import ComponentsDep, SettingsDep
from services.publisher.pages import render_subscription_answer
from services.publisher.schemas_subscriptions import (
    AddressIn,
    ErasedOut,
    SubscriberRecord,
    SubscriptionAccepted,
    SubscriptionIn,
)
from services.publisher.settings import PublisherSettings
from shared.contract.errors import Conflict, Rejected
from shared.contract.events import utcnow
from shared.contract.validation import summarise
from shared.web.auth import Principal, Role
from shared.web.deps import ReadSessionDep, WriteSessionDep
from shared.web.ops import require_role
from shared.web.problems import Problem

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
TokenParam = Annotated[str, Query(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_=-]+$")]
SubscriberId = Annotated[str, Path(min_length=1, max_length=40)]
AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]

public_router = APIRouter(prefix="/status", tags=["subscriptions"])
admin_router = APIRouter(prefix="/v1/subscribers", tags=["subscriptions"])

ACCEPTED = SubscriptionAccepted(
    status="confirmation_sent",
    detail="If the address can take it, a message asking to confirm is on its way; nothing "
    "is sent before the confirmation.",
)


def _page(
    settings: PublisherSettings, heading: str, text: str, *, form: str | None = None
) -> HTMLResponse:
    html = render_subscription_answer(
        title=settings.status_page_title,
        status_url=settings.public_base_url.rstrip("/") + "/status",
        heading=heading,
        text=text,
        form_action=form,
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP})


async def _check_pace(session: AsyncSession, settings: PublisherSettings) -> None:
    since = utcnow() - timedelta(minutes=1)
    if await subscriptions.opt_ins_since(session, since) >= settings.subscribe_per_minute:
        raise Problem(
            429,
            "Too many subscriptions",
            "Too many subscriptions in the last minute; try again in a minute.",
            headers={"Retry-After": "60"},
        )


def _check_kind(body: SubscriptionIn, settings: PublisherSettings) -> None:
    if not settings.subscriptions_open():
        raise Conflict("Subscriptions off", "This status page takes no subscriptions.")
    if body.webhook_url is not None and not settings.subscriber_webhooks_private:
        subscriptions.check_public_url(body.webhook_url)
    if body.email is not None and settings.smtp_url is None:
        raise Conflict("Email subscriptions off", "This status page sends no mail (no SMTP_URL).")


@public_router.post("/subscriptions", status_code=202, response_model=SubscriptionAccepted)
async def subscribe(
    body: SubscriptionIn,
    session: WriteSessionDep,
    settings: SettingsDep,
    components: ComponentsDep,
) -> SubscriptionAccepted:
    """Subscribe an email address or a webhook URL; it is sent nothing but the opt-in
    (confirmation mail, verification ping) until that is answered."""
    _check_kind(body, settings)
    await _check_pace(session, settings)
    await subscriptions.subscribe(session, body, components=components)
    return ACCEPTED


@public_router.post("/subscribe", response_class=HTMLResponse, include_in_schema=False)
async def subscribe_form(
    request: Request, session: WriteSessionDep, settings: SettingsDep, components: ComponentsDep
) -> HTMLResponse:
    """The status page's form (`email`, `component` repeated)."""
    try:
        fields = parse_qs((await request.body()).decode(errors="replace"), max_num_fields=200)
        body = SubscriptionIn(
            email=(fields.get("email") or [""])[0].strip(),
            components=fields.get("component", []),
        )
    except ValidationError as exc:
        raise Rejected("Invalid subscription", summarise(exc)) from exc
    except ValueError as exc:  # parse_qs: more fields than allowed
        raise Rejected("Invalid subscription", "Too many form fields.") from exc
    _check_kind(body, settings)
    await _check_pace(session, settings)
    await subscriptions.subscribe(session, body, components=components)
    return _page(settings, "Check your mailbox", ACCEPTED.detail)


@public_router.get("/subscriptions/{subscriber_id}/confirm", response_class=HTMLResponse)
async def confirm(
    subscriber_id: SubscriberId, token: TokenParam, session: WriteSessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The double opt-in link of the confirmation mail."""
    secret = settings.subscription_secret.get_secret_value()
    await subscriptions.confirm(session, subscriber_id=subscriber_id, token=token, secret=secret)
    return _page(settings, "Subscribed", "You will get the status updates you chose.")


@public_router.get("/subscriptions/{subscriber_id}/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(
    subscriber_id: SubscriberId, token: TokenParam, session: ReadSessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The link in every mail: a button, so a link checker opening it unsubscribes nobody."""
    subscriptions.check_token(
        settings.subscription_secret.get_secret_value(), "unsubscribe", subscriber_id, token=token
    )
    action = f"/status/subscriptions/{subscriber_id}/unsubscribe?token={token}"
    return _page(settings, "Unsubscribe?", "No more status updates to this address.", form=action)


@public_router.post("/subscriptions/{subscriber_id}/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(
    subscriber_id: SubscriberId, token: TokenParam, session: WriteSessionDep, settings: SettingsDep
) -> HTMLResponse:
    """One click (RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`), or the button."""
    secret = settings.subscription_secret.get_secret_value()
    await subscriptions.unsubscribe(
        session, subscriber_id=subscriber_id, token=token, secret=secret
    )
    return _page(settings, "Unsubscribed", "Nothing more will be sent to this address.")


@admin_router.post("/export", response_model=list[SubscriberRecord])
async def export_address(
    body: AddressIn, _admin: AdminDep, session: ReadSessionDep
) -> list[SubscriberRecord]:
    """Everything stored on an address (personal data: the person's right of access)."""
    return await subscriptions.export(session, address=body.address)


@admin_router.post("/erase", response_model=ErasedOut)
async def erase_address(body: AddressIn, _admin: AdminDep, session: WriteSessionDep) -> ErasedOut:
    """Delete an address and every row about it (the right to erasure)."""
    return ErasedOut(erased=await subscriptions.erase(session, address=body.address))
