"""What the router's handlers and services need, built once in the lifespan (`bootstrap`)."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.drafting import Drafter, builtin_drafter
from services.router.holds import PendingHolds
from services.router.policy import Policy
from shared.contract.channels import ChannelConfig
from shared.contract.events import CloudEvent, utcnow
from shared.contract.topics import Topics
from shared.runtime.outbox import add_to_outbox
from shared.runtime.waterfall import Waterfall

SOURCE = "/planb/router"


@dataclass(frozen=True)
class RouterContext:
    topics: Topics
    channels: list[ChannelConfig]
    policy: Policy
    zone: ZoneInfo
    public_base_url: str
    wake_relay: Callable[[], None]
    clock: Callable[[], datetime] = field(default=utcnow)
    """The time now; tests pass a controllable clock instead of sleeping."""
    drafter: Drafter = field(default_factory=builtin_drafter)
    """Renders drafts from the templates; `bootstrap` builds it over the operator's folder."""
    drafts_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when an incident asked for a draft; wakes the drafting job (draft_queue.py)."""
    holds: PendingHolds = field(default_factory=PendingHolds)
    """Scheduled posts to hold once the pauses that asked have committed (holds.py)."""
    waterfall: Waterfall = field(default_factory=Waterfall)
    """Approve → published, the router's stages (in the app's registry: `bootstrap`)."""

    def channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def incident_link(self, incident_id: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/status#{incident_id}"

    def emit(self, session: AsyncSession, *, topic: str, key: str, event: CloudEvent) -> None:
        """Stage `event_` in the session's transaction and wake the relay once it commits."""
        add_to_outbox(session, topic=topic, key=key, event=event, wake=self.wake_relay)
