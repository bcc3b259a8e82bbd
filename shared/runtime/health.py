"""What a readiness check is: an async callable answering (ready, detail), so the runtime can
describe its parts' health without knowing the HTTP edge that serves `/readyz`."""

from collections.abc import Awaitable, Callable
from typing import Any

ReadinessCheck = Callable[[], Awaitable[tuple[bool, Any]]]
