"""Times as the status page's readers see them: in one configured zone (`DISPLAY_TIMEZONE`,
the same the router's drafts say "Next update by 15:30" in), each marked with that zone,
formatted for the reader's language by Babel; never UTC here and local there."""

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_name


def zone_mark(moment: datetime, zone: ZoneInfo) -> str:
    """The zone's abbreviation at that moment (`BST`, `CET`, `UTC`), or `UTC+03` where it has
    only an offset for one (zoneinfo names many zones that way)."""
    name = moment.astimezone(zone).tzname() or "UTC"
    return name if name.isalpha() else f"UTC{name}"


def human_time(moment: datetime, zone: ZoneInfo, locale: str = "en") -> str:
    """`1 Jul 2026, 15:05 BST`: day, month and 24-hour time in the reader's language."""
    text = format_datetime(moment, "d MMM y, HH:mm", tzinfo=zone, locale=locale)
    return f"{text} {zone_mark(moment, zone)}"


def zone_name(zone: ZoneInfo, locale: str = "en") -> str:
    """The zone in words (`Central European Time`), with its identifier for the exact rule."""
    if zone.key == "UTC":
        return "UTC"
    return f"{get_timezone_name(zone, locale=locale)} ({zone.key})"
