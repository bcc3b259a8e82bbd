"""A supervised loop that crashes is started again; one that keeps crashing is given up on,
and says which and why (the process's /healthz then fails); a return or a cancellation is
not a crash. The loops here are real coroutines; only their work is made to fail."""

import asyncio

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from shared.runtime.supervision import RestartPolicy, Supervisor
from shared.web.ops import ops_router
from tests.support import eventually

QUICK = RestartPolicy(limit=2, window_seconds=60, base_seconds=0)


async def test_a_crashed_loop_is_restarted_and_goes_on() -> None:
    supervisor = Supervisor(QUICK)
    runs: list[int] = []
    done = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise RuntimeError(f"fault injected into run {len(runs)}")
        await done.wait()

    task = supervisor.start("worker", loop)
    try:

        async def restarted_twice() -> bool:
            return len(runs) == 3

        await eventually(restarted_twice, what="the loop started a third time")
        described = supervisor.describe()["worker"]
        assert described["state"] == "running"
        assert described["restarts"] == 2
        assert described["last_crash"] == "RuntimeError: fault injected into run 2"
        assert supervisor.failures() == {}
        done.set()
        await task
    finally:
        task.cancel()
    assert supervisor.describe()["worker"]["state"] == "finished"


async def test_a_loop_that_keeps_crashing_is_given_up_and_named_with_its_reason() -> None:
    supervisor = Supervisor(QUICK)
    runs: list[int] = []

    async def loop() -> None:
        runs.append(1)
        raise FileNotFoundError(2, "No such file or directory", "/gone")

    await supervisor.start("relay", loop)  # returns once it gave up
    assert len(runs) == QUICK.limit + 1
    assert supervisor.failures() == {
        "relay": "FileNotFoundError: [Errno 2] No such file or directory: '/gone'"
    }
    assert supervisor.describe()["relay"]["state"] == "failed"


async def test_crashes_outside_the_window_are_forgotten() -> None:
    """Only crashes within `window_seconds` count: a loop that crashes once a day runs for
    ever. Here one crash in the window is restarted, and each is out of it by the next."""
    supervisor = Supervisor(RestartPolicy(limit=1, window_seconds=0.005, base_seconds=0))
    runs: list[int] = []
    done = asyncio.Event()

    async def loop() -> None:
        runs.append(1)
        if len(runs) <= 3:
            await asyncio.sleep(0.01)  # past the window before it crashes again
            raise RuntimeError("now and then")
        await done.wait()

    task = supervisor.start("job", loop)

    async def fourth_run() -> bool:
        return len(runs) == 4

    await eventually(fourth_run, what="a fourth run despite a limit of 1 in the window")
    assert supervisor.failures() == {}
    done.set()
    await task


async def test_a_cancelled_loop_is_not_a_crash() -> None:
    supervisor = Supervisor(QUICK)
    started = asyncio.Event()

    async def loop() -> None:
        started.set()
        await asyncio.Event().wait()

    task = supervisor.start("consumer", loop)
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.describe()["consumer"]["restarts"] == 0
    assert supervisor.failures() == {}


@pytest.mark.parametrize(
    ("details", "failed"),
    [(True, {"relay": "RuntimeError: boom in SELECT secret"}), (False, ["relay"])],
)
async def test_healthz_fails_naming_the_loop_and_its_error_only_with_details(
    details: bool, failed: object
) -> None:
    """On the public port (operations elsewhere) the error stays off: it may quote SQL."""
    app = FastAPI()
    app.include_router(
        ops_router(
            lambda _request: {},
            failures=lambda _request: {"relay": "RuntimeError: boom in SELECT secret"},
            details=details,
        )
    )
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "failing", "failed": failed}
