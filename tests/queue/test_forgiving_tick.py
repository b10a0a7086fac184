"""The first tick after a Redis outage forgives the heartbeats nobody could write (issue 14, 4)."""

from __future__ import annotations

from window_server.domain.routing import agent_pool
from window_server.queue.store import QueueStore
from window_server.store.keys import key

from .conftest import TIMING, Clock

SUZHOU = "320500"
TTL_S = TIMING.heartbeat_ttl_ms / 1000


async def in_service(store: QueueStore, clock: Clock) -> str:
    await store.agent_login("a1", "js-suzhou", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    await store.presence("a1", "available")
    res = await store.enqueue(booth="b1", intake_centre="sh-huangpu", matter="m", region=SUZHOU, lang="zh",
                              priority="", source="walk_in", consent=True)
    sid = str(res.ok["sid"])
    await store.accept("a1", sid)
    await store.redis.zadd(key("booth_heartbeats"), {"b1": clock.ms})  # the booth's node, as signaling does
    return sid


async def test_a_forgiving_tick_renews_stale_heartbeats_and_the_normal_rules_follow(
    store: QueueStore, clock: Clock
) -> None:
    sid = await in_service(store, clock)
    clock.advance(TTL_S + 10)  # Redis was down longer than the TTL: no heartbeat was written
    await store.tick(forgive=True)
    assert (await store.session(sid))["state"] == "in_service"
    assert (await store.agent("a1"))["status"] == "in_service"
    renewed = clock.ms
    assert await store.redis.zscore(key("heartbeats"), "a1") == renewed
    assert await store.redis.zscore(key("booth_heartbeats"), "b1") == renewed

    clock.advance(TTL_S - 1)  # nobody re-asserted them, but they have one full TTL to do so
    await store.tick()
    assert (await store.session(sid))["state"] == "in_service"
    clock.advance(1)  # one TTL after the outage: whoever did not come back is lost as usual
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["lost_agent"]) == ("reconnecting", "1")
    assert (await store.agent("a1"))["status"] == "offline"
    assert await store.redis.zscore(key("booth_heartbeats"), "b1") is None  # judged silent too

