"""The queue's clock: carry out whatever is due (timeouts, widening, lost heartbeats, grace).

Every node runs one; the Redis functions are atomic and idempotent, so several tickers never
do a thing twice. The ticker sleeps until the soonest due time, at most ``max_interval``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from window_server.store.queue import QueueStore
from window_server.tasks import cancelled, pause

log = logging.getLogger(__name__)

EffectSink = Callable[[list[dict[str, Any]]], Awaitable[None]]


async def run_ticker(
    store: QueueStore,
    sink: EffectSink,
    *,
    max_interval: float = 0.25,
    batch: int = 200,
) -> None:
    """Run until cancelled; Redis trouble is logged and retried, never fatal."""
    failing = False
    while True:
        delay = max_interval
        try:
            result = await store.tick(limit=batch)
            if failing:
                log.info("queue ticker: Redis answers again")
                failing = False
            if result.fx:
                try:
                    await sink(result.fx)
                except Exception:  # a push that fails must not stop the queue's clock
                    log.exception("queue ticker: delivering %d effects failed", len(result.fx))
            if int(result.ok.get("done", 0)) >= batch:
                delay = 0  # more is due: go on at once
            elif nxt := result.ok.get("next"):
                delay = min(max_interval, max(0.005, (float(nxt) - store.now_ms()) / 1000))
        except (RedisError, OSError) as exc:
            if cancelled():
                raise asyncio.CancelledError from exc
            if not failing:
                log.warning("queue ticker: Redis unavailable (%s); retrying", type(exc).__name__)
                failing = True
            delay = 1.0
        await pause(delay)
