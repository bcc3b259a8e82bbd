"""What a readiness check is: an async callable answering (ready, detail), so the runtime can
describe its parts' health without knowing the HTTP edge that serves `/readyz`."""

from collections.abc import Awaitable, Callable
from typing import Any

ReadinessCheck = Callable[[], Awaitable[tuple[bool, Any]]]

DEGRADED = "degraded"


def is_degraded(detail: Any) -> bool:
    """A check that passes but says the service does less than it should: its detail, or the
    detail's `status`, starts with "degraded" (and says why)."""
    if isinstance(detail, dict):
        detail = detail.get("status")
    return isinstance(detail, str) and detail.startswith(DEGRADED)
