"""A steady load of incidents for fault tests: an operator's client at a fixed rate.

Open loop: a slow answer never delays the next request, as with real monitoring and
operators. Each request has a client timeout; a request that times out is retried with
the same `Idempotency-Key`, as docs/design.md tells clients to, so the first answer comes back
and the test's oracle still knows every incident id. Timed-out attempts are counted and
reported with the latencies, per phase of the scenario (between `mark`s).
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx

ATTEMPTS = 3


@dataclass
class Answer:
    """One request of the load: when it was sent, its attempts' latencies, what came back."""

    sent_at: float
    attempts: list[float] = field(default_factory=list)
    timeouts: int = 0
    status_code: int | None = None
    body: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds(self) -> float:
        """From the first attempt to the final answer."""
        return sum(self.attempts)

    @property
    def outcome(self) -> str:
        return self.body.get("status") or self.error or str(self.status_code)


class Load:
    """Raises sev4 incidents at `rate` per second through ingest until stopped."""

    def __init__(
        self, client: httpx.AsyncClient, token: str, *, rate: float, timeout: float
    ) -> None:
        self.client = client
        self.token = token
        self.rate = rate
        self.timeout = timeout
        self.answers: list[Answer] = []
        self.marks: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: asyncio.Task[None] | None = None

    def mark(self, moment: str) -> float:
        """Note when something happened to the system under load (a phase begins)."""
        self.marks[moment] = time.monotonic()
        return self.marks[moment]

    def start(self) -> None:
        self._running = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sending and wait until every request in flight has its final answer."""
        assert self._running is not None, "load not started"
        self._running.cancel()
        await asyncio.gather(self._running, return_exceptions=True)
        await asyncio.gather(*self._tasks)

    async def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            task = asyncio.create_task(self._raise(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
            await asyncio.sleep(max(0.0, start + n / self.rate - time.monotonic()))

    async def _raise(self, n: int) -> None:
        answer = Answer(sent_at=time.monotonic())
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex}
        body = {"title": f"Load incident {n}", "severity": "sev4"}
        for _ in range(ATTEMPTS):
            started = time.monotonic()
            try:
                response = await self.client.post(
                    "/v1/incidents", headers=headers, json=body, timeout=self.timeout
                )
            except httpx.TimeoutException:
                answer.attempts.append(time.monotonic() - started)
                answer.timeouts += 1
                answer.error = f"timed out after {self.timeout:.0f}s"
                continue
            except httpx.HTTPError as exc:
                answer.attempts.append(time.monotonic() - started)
                answer.error = f"{type(exc).__name__}: {exc}"
                break
            answer.attempts.append(time.monotonic() - started)
            answer.status_code = response.status_code
            if response.status_code == 202:
                answer.body = response.json()
                answer.error = None
            else:
                answer.error = f"{response.status_code} {response.text[:200]}"
            break
        self.answers.append(answer)

    def answered_202(self) -> list[Answer]:
        return [a for a in self.answers if a.status_code == 202]

    def incident_ids(self) -> set[str]:
        return {a.body["incident_id"] for a in self.answered_202()}

    def report(self) -> str:
        """Outcomes and latencies per phase, by when the request was sent."""
        start = min(a.sent_at for a in self.answers)
        bounds = [("before", start), *sorted(self.marks.items(), key=lambda m: m[1])]
        lines = [", ".join(f"{name} at +{t - start:.1f}s" for name, t in bounds[1:])]
        for i, (name, since) in enumerate(bounds):
            until = bounds[i + 1][1] if i + 1 < len(bounds) else float("inf")
            phase = [a for a in self.answers if since <= a.sent_at < until]
            if phase:
                lines.append(f"  sent {'after ' + name if i else name}: {summarise(phase)}")
        return "\n".join(lines)


def summarise(answers: list[Answer]) -> str:
    outcomes: dict[str, int] = {}
    for a in answers:
        outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
    first = sorted(a.attempts[0] for a in answers)
    timed_out = sum(1 for a in answers if a.timeouts)

    def pct(q: float) -> float:
        return first[min(len(first) - 1, int(q * len(first)))]

    return (
        f"{len(answers)} requests {outcomes}; first attempt p50 {pct(0.5):.3f}s "
        f"p99 {pct(0.99):.3f}s max {first[-1]:.3f}s; {timed_out} timed out and were retried "
        f"(slowest answer {max(a.seconds for a in answers):.1f}s)"
    )
