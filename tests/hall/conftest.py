"""Hall fixtures: the queue store on the session's real Redis with a manual clock, and the hall's store."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.queue.conftest import Clock, clock, store  # noqa: F401  (fixtures)
from window_server.hall.store import HallStore
from window_server.queue.store import QueueStore


@pytest.fixture
def hall(redis: Redis, store: QueueStore) -> HallStore:  # noqa: F811
    return HallStore(redis, store)
