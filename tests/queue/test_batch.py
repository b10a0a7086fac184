"""Calls made together share round trips, and each still succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from window_server.domain.errors import RemoteWindowError
from window_server.queue.store import QueueStore

from .test_queue_store import state, ticket


async def fcalls(redis: Redis) -> int:
    """FCALL commands Redis has run so far (each is one round trip)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_fcall", {}).get("calls", 0))


async def test_calls_made_together_share_round_trips_and_keep_their_own_answers(
    store: QueueStore, redis: Redis
) -> None:
    busy = await ticket(store, "b-busy")
    before = await fcalls(redis)

    results = await asyncio.gather(
        *(ticket(store, f"b{i}") for i in range(30)), ticket(store, "b-busy"), return_exceptions=True
    )

    assert await fcalls(redis) - before < 31  # fewer round trips than calls
    *sids, refused = results
    assert isinstance(refused, RemoteWindowError) and refused.code == "booth_busy"
    assert all(isinstance(s, str) for s in sids) and len(set(sids)) == 30
    for sid in sids:
        assert await state(store, str(sid)) == "waiting"
    assert await store.booth_session("b-busy") == busy  # the refused call changed nothing
    tickets = [(await store.session(str(s)))["ticket"] for s in sids]
    assert len(set(tickets)) == 30


async def test_a_call_that_fails_in_lua_fails_alone(store: QueueStore, redis: Redis) -> None:
    payload = json.dumps({"now": 1_800_000_000_000, "limit": 10})
    calls = [store.batcher.call("rw_tick", payload) for _ in range(8)]
    calls += [store.batcher.call("rw_no_such_function", payload), store.batcher.call("rw_tick", "{not json")]

    results = await asyncio.gather(*calls, return_exceptions=True)

    *good, unknown, malformed = results
    assert all(isinstance(r, str) and "ok" in json.loads(r) for r in good)
    assert isinstance(unknown, ResponseError)
    assert isinstance(malformed, ResponseError)


async def test_a_batch_finds_the_library_again_after_redis_lost_it(store: QueueStore, redis: Redis) -> None:
    await redis.function_flush()

    sids = await asyncio.gather(*(ticket(store, f"b{i}") for i in range(10)))

    assert len(set(sids)) == 10
    for sid in sids:
        assert await state(store, sid) == "waiting"


@pytest.mark.parametrize("depth", [1, 3])
async def test_any_depth_gives_the_same_answers(store: QueueStore, depth: int) -> None:
    store.batcher.depth = depth
    sids = await asyncio.gather(*(ticket(store, f"d{depth}-{i}") for i in range(12)))
    numbers = sorted(int(s[-6:]) for s in sids)
    assert numbers == list(range(numbers[0], numbers[0] + 12))  # no call lost or run twice
