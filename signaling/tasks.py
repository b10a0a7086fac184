"""Helpers for long-running background tasks: a cancel-honouring pause, a periodic loop, a bounded stop.

They live here, with the transport that needs them first, and every package that runs
background loops imports them from here (``window_server.runtime.tasks`` re-exports them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def cancelled() -> bool:
    """Whether the current task is being cancelled.

    Libraries sometimes swallow a CancelledError (on Python 3.11 a cancel that lands inside
    ``asyncio.timeout`` can come out as TimeoutError); a loop that checks this before it
    sleeps still stops when its owner cancels it.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def pause(seconds: float) -> None:
    """Sleep between rounds of a background loop, honouring a cancel that was swallowed."""
    if cancelled():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)


async def periodic(interval: float, fn: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``fn`` every ``interval`` seconds until cancelled; a failed round is logged, not fatal."""
    while True:
        await pause(interval)
        try:
            await fn()
        except Exception:  # a failed round must not stop the next one
            if cancelled():  # a cancel swallowed inside asyncio.timeout (Python 3.11)
                raise asyncio.CancelledError from None
            log.exception("%s failed", what)


async def stop_tasks(tasks: list[asyncio.Task[None]], within: float = 5.0) -> None:
    """Cancel background tasks and wait for them, at most ``within`` seconds in all.

    A task that does not finish in time (a library swallowed the cancel while it awaited
    something that never comes) is logged by name and left behind, so a shutdown never hangs.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _done, stuck = await asyncio.wait(tasks, timeout=within)
    for task in stuck:
        log.warning("background task %s did not stop within %.0f s; left behind", task.get_name(), within)
    for task in _done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task %s ended with %r", task.get_name(), task.exception())
