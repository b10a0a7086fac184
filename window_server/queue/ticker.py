"""The queue's clock: carry out whatever is due (timeouts, widening, lost heartbeats, grace).

Every node runs one; the Redis functions are atomic and idempotent, so several tickers never
do a thing twice. The ticker sleeps until the soonest due time, at most ``max_interval``.

After a Redis outage (``store.outage``, marked by any failed call of the node's background
loops) the ticker's first round, once Redis answers, re-asserts this node's connected parties
(``recover``) and then ticks with ``forgive``: heartbeats nobody could write while Redis was
down do not count as lost presence (see window_server/runtime/outage.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from window_server.queue.store import QueueStore
from window_server.runtime.tasks import cancelled, pause

log = logging.getLogger(__name__)

EffectSink = Callable[[list[dict[str, Any]]], Awaitable[None]]
Recover = Callable[[], Awaitable[None]]


async def run_ticker(
    store: QueueStore,
    sink: EffectSink,
    *,
    recover: Recover | None = None,
    max_interval: float = 0.25,
    batch: int = 200,
) -> None:
    """Run until cancelled; Redis trouble is logged and retried, never fatal."""
    outage = store.outage
    while True:
        delay = max_interval
        try:
            seen = outage.seen_count
            forgive = outage.pending
            if forgive and recover is not None:
                await _recover(recover)  # this node's parties first, before anyone's heartbeat is judged
            result = await store.tick(limit=batch, forgive=forgive)
            if forgive and outage.heal(seen):
                log.info("queue ticker: Redis answers again; this node's parties re-asserted, "
                         "heartbeats missed during the outage forgiven")
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
            if outage.seen():
                log.warning("queue ticker: Redis unavailable (%s); retrying", type(exc).__name__)
            delay = 1.0
        await pause(delay)


async def _recover(recover: Recover) -> None:
    """Re-assert this node's parties; Redis failing again propagates (the outage goes on)."""
    try:
        await recover()
    except (RedisError, OSError):
        raise
    except Exception:  # a bug in re-asserting must not stop the queue's clock: forgive anyway
        if cancelled():
            raise asyncio.CancelledError from None
        log.exception("queue ticker: re-asserting this node's parties after the outage failed")
