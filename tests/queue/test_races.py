"""Many specialists racing on real Redis: nothing lost, nothing held twice, the log explains all."""

from __future__ import annotations

import asyncio
import json
import random

from redis.asyncio import Redis

from tests.oracle.replay import replay
from window_server.domain.errors import RemoteWindowError
from window_server.domain.routing import agent_pool
from window_server.queue.store import QueueStore
from window_server.store.audit import audit
from window_server.store.events import read_entries
from window_server.store.keys import key

from .conftest import Clock

REGIONS = {"320500": ("320500",), "330100": ("330100", "320500"), "340100": ("340100", "330100")}


async def test_racing_specialists_heartbeats_and_transfers(store: QueueStore, clock: Clock, redis: Redis) -> None:
    rng = random.Random(7)
    aids = [f"a{i:02d}" for i in range(40)]
    home = {aid: rng.choice(sorted(REGIONS)) for aid in aids}
    for aid in aids:
        await store.agent_login(aid, f"c-{home[aid]}", agent_pool(home[aid], REGIONS[home[aid]]), ("zh",))
    sids: list[str] = []

    async def citizen(i: int) -> None:
        res = await store.enqueue(booth=f"b{i}", intake_centre="sh-huangpu", matter="m",
                                  region=rng.choice(sorted(REGIONS)), lang="zh",
                                  priority="elderly" if i % 7 == 0 else "", source="walk_in", consent=True)
        sids.append(res.ok["sid"])

    expected_errors = 0

    async def attempt(coro: object) -> None:
        nonlocal expected_errors
        try:
            await coro  # type: ignore[misc]
        except RemoteWindowError:
            expected_errors += 1  # a lost race: a clean error, never a half change

    async def specialist(aid: str) -> None:
        for _ in range(60):
            a = await store.agent(aid)
            status = a.get("status")
            roll = rng.random()
            if status == "offered" and a.get("offer"):
                if roll < 0.75:
                    await attempt(store.accept(aid, a["offer"]))
                else:
                    await attempt(store.decline(aid, a["offer"], "race"))
            elif a.get("session"):
                sid = a["session"]
                if roll < 0.6:
                    await attempt(store.complete(aid, sid, "consultation"))
                elif roll < 0.8:
                    await attempt(store.transfer(aid, sid, reason="race", mode=rng.choice(["warm", "cold"]),
                                                 to_agent=rng.choice(aids)))
                else:
                    await attempt(store.transfer(aid, sid, reason="race", mode="warm",
                                                 to_centre=f"c-{rng.choice(sorted(REGIONS))}"))
            elif status in ("away", "wrap_up", "available"):
                await attempt(store.presence(aid, "available" if roll < 0.9 else "away"))
            elif status == "offline" and roll < 0.5:
                await store.agent_login(aid, f"c-{home[aid]}", agent_pool(home[aid], REGIONS[home[aid]]), ("zh",))
            # a thief tries to take somebody else's offer
            if sids and roll < 0.2:
                await attempt(store.accept(aid, rng.choice(sids)))
            await asyncio.sleep(0)

    async def time_passes() -> None:
        for _ in range(40):
            clock.advance(rng.choice([2, 7, 21]))
            for aid in aids:
                if rng.random() < 0.97:  # now and then a console goes silent
                    await attempt(store.heartbeat(aid))
            await store.tick(limit=1000)
            await asyncio.sleep(0)

    await asyncio.gather(*(citizen(i) for i in range(200)))
    await asyncio.gather(time_passes(), *(specialist(aid) for aid in aids))
    await store.tick(limit=1000)

    report = await audit(redis)
    assert report.lost == [] and report.double == [] and report.problems == []
    assert report.sessions >= 150

    events = [f for _id, f in read_entries(await redis.xrange(key("events")))]
    views = replay(events)
    assert set(views) == set(sids)
    accepted = 0
    for sid in sids:
        s = await store.session(sid)
        v = views[sid]
        assert (v.state, v.agent, list(v.served)) == (s["state"], s["agent"], json.loads(s["served"]))
        accepted += len(v.served)
    assert accepted > 100 and expected_errors > 0

    # every accept answers an offer to the same specialist, so no session was taken twice
    last_offer: dict[str, str] = {}
    for e in events:
        if e.get("act") in ("offer", "transfer_offer"):
            last_offer[e["sid"]] = e["agent"]
        elif e.get("act") in ("accept", "transfer_accept"):
            assert last_offer.pop(e["sid"]) == e["agent"]
