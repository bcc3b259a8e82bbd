"""Waiting for a wake-up with a time limit, without swallowing a cancellation.

Python 3.11's `asyncio.wait_for` returns normally when the awaited event is set in the same
loop iteration as the task is cancelled, and the cancellation is lost (fixed in 3.12). A
background loop that then carries on past its shutdown waits forever for a database session
no longer handed out. `asyncio.timeout` has no such race.
"""

import asyncio


async def wait_for_wakeup(event: asyncio.Event, seconds: float) -> bool:
    """True when `event` was set within `seconds`, False when the time ran out."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
