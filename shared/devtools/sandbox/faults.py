"""Fault modes a peer can run for a while, and the peer's own record of what it answered when.

    peer.storm(30)                  for 30 s refuse every API call: 503 and 429 in turn, each
                                    with a Retry-After (delay-seconds on 429, an HTTP-date on
                                    503), the delays cycling through 1, 2, 4, 7 s; then heal
    peer.answers                    every request with its arrival and answer times and, for
                                    an answer carrying Retry-After, the instant it named

The peer is the clock: `time.time()` in the peer's own thread, the clock HTTP-dates speak.
The instant a Retry-After names is read back from the header actually sent, so the
whole-second granularity of both forms is what the client saw, not what the peer meant.
"""

import email.utils
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STORM_DELAYS = (1, 2, 4, 7)  # seconds; 7 is longer than the publisher's in-call retry cap


@dataclass(frozen=True)
class Answer:
    """One request as the peer saw it: when it arrived, when and how it was answered."""

    method: str
    path: str
    idempotency_key: str | None
    arrived_at: float
    answered_at: float
    status: int
    retry_after: str | None
    not_before: float | None  # the instant Retry-After named: no request before it

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Refusal:
    status: int
    headers: dict[str, str]


class Storm:
    """Refuse every call until `ends_at` (the peer's clock), 503 and 429 in turn."""

    def __init__(self, seconds: float, delays: tuple[int, ...] = STORM_DELAYS) -> None:
        self.started_at = time.time()
        self.ends_at = self.started_at + seconds
        self._turns: Iterator[tuple[int, int]] = itertools.cycle(
            [(status, delay) for delay in delays for status in (503, 429)]
        )
        self._lock = threading.Lock()

    def refusal(self) -> Refusal | None:
        """The next refusal while the storm lasts, else None."""
        now = time.time()
        if now >= self.ends_at:
            return None
        with self._lock:
            status, delay = next(self._turns)
        if status == 429:
            return Refusal(429, {"Retry-After": str(delay)})
        # An HTTP-date has whole seconds: round up so the header never asks for less.
        return Refusal(
            503, {"Retry-After": email.utils.formatdate(math.ceil(now + delay), usegmt=True)}
        )


def named_instant(retry_after: str | None, answered_at: float) -> float | None:
    """The instant a Retry-After value names: delay-seconds from the answer, or an HTTP-date."""
    if retry_after is None or not retry_after.strip():
        return None
    value = retry_after.strip()
    if value.isdigit():
        return answered_at + int(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


class AnswerRecorder:
    """ASGI middleware: stamps each request on arrival and its answer as it leaves."""

    def __init__(self, app: ASGIApp, *, note: Callable[[Answer], None]) -> None:
        self.app = app
        self.note = note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived_at = time.time()
        request_headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered_at = time.time()
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                retry_after = headers.get("retry-after")
                self.note(
                    Answer(
                        method=scope["method"],
                        path=scope["path"],
                        idempotency_key=request_headers.get("idempotency-key"),
                        arrived_at=arrived_at,
                        answered_at=answered_at,
                        status=message["status"],
                        retry_after=retry_after,
                        not_before=named_instant(retry_after, answered_at),
                    )
                )
            await send(message)

        await self.app(scope, receive, stamped)
