"""What Redis acknowledged survives Redis being killed: the embedded server's AOF, as deployed.

Redis writes its AOF buffer to the file before it sends the replies of that turn, so with
``appendfsync everysec`` an acknowledged change is in the file (the OS's cache) when the client
sees it; only the machine losing power can lose the last second. This kills redis-server with
SIGKILL (no shutdown, no final fsync), starts it again on the same directory and compares.
"""

from __future__ import annotations

import json
from pathlib import Path

from window_server.domain.routing import agent_pool
from window_server.materials.store import MaterialStore, new_material_id
from window_server.queue.live_store import LiveStore
from window_server.queue.store import QueueStore
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.store.audit import audit
from window_server.store.client import make_redis
from window_server.store.keys import key

from .conftest import TIMING, Clock

SUZHOU = "320500"


async def test_acknowledged_changes_survive_redis_being_killed(tmp_path: Path) -> None:
    clock = Clock()
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        redis = make_redis(server.url)
        store = QueueStore(redis, TIMING, clock)
        await store.load()

        async def ticket(booth: str) -> str:
            res = await store.enqueue(booth=booth, intake_centre="sh-huangpu", matter="m", region=SUZHOU,
                                      lang="zh", priority="", source="walk_in", consent=True)
            return str(res.ok["sid"])

        for aid in ("a1", "a2"):
            await store.agent_login(aid, "js-suzhou", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
            await store.presence(aid, "available")
        rated = await ticket("b1")  # served, completed and rated
        await store.accept("a1", rated)
        await store.complete("a1", rated, "consultation")
        await store.rate(rated, "b1", 2, "slow")
        moved = await ticket("b2")  # served by a2, then a warm transfer to a3 that is accepted
        await store.accept("a2", moved)
        material = new_material_id()
        materials = MaterialStore(store)
        await materials.add(moved, {"id": material, "kind": "id_front"}, role="agent", subject="a2", by="agent:a2",
                            event={"kind": "id_front"}, now=clock.ms)
        await materials.verdict(moved, "a2", material, "rejected", "glare")
        await store.agent_login("a3", "js-suzhou", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
        await store.presence("a3", "available")
        await store.transfer("a2", moved, reason="needs a tax specialist", mode="warm", to_agent="a3")
        await store.accept("a3", moved)
        waiting = [await ticket(f"w{i}") for i in range(3)]  # nobody free: they wait, in order

        before = {sid: await store.session(sid) for sid in (rated, moved, *waiting)}
        queue = await redis.zrange(key("queue", region=SUZHOU, lang="zh"), 0, -1)
        positions = [(await LiveStore(redis, 300).position(sid))["position"] for sid in waiting]
        events = await redis.xlen(key("events"))
        verdict = await redis.hget(key("material_verdicts", sid=moved), material)
        await redis.aclose()

        server.kill()  # SIGKILL: no shutdown, no last fsync
        server.start()
        redis = make_redis(server.url)
        store = QueueStore(redis, TIMING, clock)
        after = {sid: await store.session(sid) for sid in before}
        assert after == before
        assert after[rated]["state"] == "rated" and after[rated]["rating"] == "2"
        assert after[moved]["agent"] == "a3" and json.loads(after[moved]["transfers"])[0]["result"] == "transfer_accept"
        assert await redis.zrange(key("queue", region=SUZHOU, lang="zh"), 0, -1) == queue == waiting
        assert [(await LiveStore(redis, 300).position(sid))["position"] for sid in waiting] == positions == [1, 2, 3]
        assert await redis.xlen(key("events")) == events
        assert json.loads(await redis.hget(key("material_verdicts", sid=moved), material) or "{}")["verdict"] == \
            json.loads(verdict or "{}")["verdict"] == "rejected"
        report = await audit(redis)
        assert not report.lost and not report.double
        await redis.aclose()
    finally:
        server.stop()
