"""Fixtures for the Redis adapter: the queue store on the session's real Redis, a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from window_server.queue.store import QueueStore, QueueTiming


class Clock:
    """A clock the test moves by hand: time rules are tested without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    @property
    def ms(self) -> int:
        return int(self.t * 1000)


TIMING = QueueTiming(
    widen_ms=30_000, offer_ms=20_000, decline_memory_ms=120_000, wrap_ms=60_000,
    grace_ms=60_000, transfer_ms=120_000, heartbeat_ttl_ms=30_000,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(redis: Redis, clock: Clock) -> AsyncIterator[QueueStore]:
    s = QueueStore(redis, TIMING, clock)
    await s.load()
    yield s
