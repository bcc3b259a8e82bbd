"""Bodies of the subscription routes: what a reader sends, what an admin exports."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.channels import ChannelId
from shared.contract.events import Tag

Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$",
        description="the reader's address (kept only to send to it; erasable)",
    ),
]
WebhookUrl = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")]


class SubscriptionIn(BaseModel):
    """One of `email` or `webhook_url`; `components` and `regions` narrow what is sent
    (neither: everything)."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    webhook_url: WebhookUrl | None = None
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="a webhook's signing secret (HMAC-SHA256, as the webhook channel signs)",
    )
    components: list[ChannelId] = Field(default_factory=list, max_length=100)
    regions: list[Tag] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _one_address(self) -> "SubscriptionIn":
        if (self.email is None) == (self.webhook_url is None):
            raise ValueError("give either email or webhook_url")
        if (self.webhook_url is None) != (self.secret is None):
            raise ValueError("a webhook_url takes a secret (and only a webhook_url does)")
        return self

    def kind_and_address(self) -> tuple[str, str]:
        if self.email is not None:
            local, _, domain = self.email.rpartition("@")
            return "email", f"{local}@{domain.lower()}"
        assert self.webhook_url is not None
        return "webhook", self.webhook_url


class SubscriptionAccepted(BaseModel):
    status: str = Field(description="`confirmation_sent`: the subscription waits for its opt-in")
    detail: str


class AddressIn(BaseModel):
    """The address an admin exports or erases (in the body, never in a URL or a log)."""

    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=3, max_length=2000)


class NotificationRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    message_id: str
    state: str
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime


class SubscriberRecord(BaseModel):
    """Everything stored about one subscription."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    address: str
    components: list[str]
    regions: list[str]
    state: str
    last_error: str | None
    created_at: datetime
    confirmed_at: datetime | None
    updated_at: datetime
    notifications: list[NotificationRecord] = Field(default_factory=list)


class ErasedOut(BaseModel):
    erased: int
