"""What a readiness check is: an async callable answering (ready, detail), so the runtime can
describe its parts' health without knowing the HTTP edge that serves `/readyz`."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

ReadinessCheck = Callable[[], Awaitable[tuple[bool, Any]]]

DEGRADED = "degraded"


def is_degraded(detail: Any) -> bool:
    """A check that passes but says the service does less than it should: its detail, or the
    detail's `status`, starts with "degraded" (and says why)."""
    if isinstance(detail, dict):
        detail = detail.get("status")
    return isinstance(detail, str) and detail.startswith(DEGRADED)


async def evaluate(checks: Mapping[str, ReadinessCheck]) -> tuple[str, dict[str, Any]]:
    """Run `checks`: the state ("ready", "degraded" or "unavailable") and each one's result;
    a check that raises is a failed one, its error the detail."""
    results: dict[str, Any] = {}
    ready = True
    for name, check in checks.items():
        try:
            ok, detail = await check()
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        results[name] = {"ok": ok, "detail": detail}
        ready = ready and ok
    degraded = any(is_degraded(r["detail"]) for r in results.values())
    return ("unavailable" if not ready else "degraded" if degraded else "ready"), results
