"""Drafting a status message per channel in a plain, human voice.

The walking skeleton has one built-in template; per-status, per-severity and per-channel
templates under `config/templates/` come with the drafting issue.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined

from services.router.models import Incident
from shared.channels import ChannelConfig

_ENV = Environment(autoescape=False, undefined=StrictUndefined, trim_blocks=True)

_TEMPLATE = _ENV.from_string(
    "{% if status == 'resolved' %}Resolved: {{ title }}."
    "{% if message %} {{ message }}{% endif %} Thank you for your patience."
    "{% else %}{{ opening }} {{ title }}."
    "{% if impact %} {{ impact }}{% endif %}"
    "{% if message %} {{ message }}{% endif %}"
    "{% if next_update %} Next update by {{ next_update }}.{% endif %}{% endif %}"
    " {{ link }}"
)

_OPENINGS = {
    "investigating": "We're looking into a problem:",
    "identified": "We've found the cause of the problem:",
    "monitoring": "A fix is in place and we're watching it:",
}


def draft_text(
    incident: Incident,
    channel: ChannelConfig,
    *,
    message: str | None,
    link: str,
    zone: ZoneInfo,
    now: datetime,
) -> str:
    """The text one channel gets for the incident's current state."""
    next_update = None
    if incident.next_update_at is not None and incident.status != "resolved":
        next_update = incident.next_update_at.astimezone(zone).strftime("%H:%M")
        if zone.key == "UTC":
            next_update += " UTC"
    return _TEMPLATE.render(
        status=incident.status,
        opening=_OPENINGS.get(incident.status, "Update:"),
        title=incident.title,
        impact=incident.customer_impact,
        message=message,
        next_update=next_update,
        link=link,
    ).strip()


def next_update_at(now: datetime, minutes: int | None) -> datetime | None:
    return None if minutes is None else now + timedelta(minutes=minutes)
