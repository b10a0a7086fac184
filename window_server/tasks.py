"""Helpers for the node's long-running background tasks."""

from __future__ import annotations

import asyncio


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
