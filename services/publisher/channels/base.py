"""What every channel adapter promises, and the one error a delivery may end with.

    ChannelError        the message cannot be delivered on this channel (reported `failed`)

Any other exception is the infrastructure's problem and is left to the consumer's retries.
"""

from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.events import PublishRequested


class Sent(BaseModel):
    """Where a message landed on its platform."""

    model_config = ConfigDict(frozen=True)
    remote_id: str | None = None
    url: str | None = None


class ChannelError(Exception):
    """The channel refused the message, or no adapter can send it; the text says why."""


class ChannelAdapter(Protocol):
    async def send(self, message: PublishRequested, session: AsyncSession) -> Sent:
        """Publish `message`; database work joins `session`, the delivery's transaction."""
        ...
