"""Differential test: the Lua queue makes exactly the offers the pure reference model makes.

The same seeded sequence of operations (tickets, specialists coming and going, accepts,
declines, completions, citizens leaving, time passing) drives ``QueueModel`` and the real Redis
functions; after every step the offers and the waiting sessions must be identical.
"""

from __future__ import annotations

import random

import pytest

from window_server.domain.presence import MISSES_BEFORE_AWAY
from window_server.domain.routing import ModelAgent, ModelSession, QueueModel, agent_pool, lane_for
from window_server.store.queue import QueueStore

from .conftest import TIMING, Clock

REGIONS = ["320500", "330100", "340100"]
CENTRES = {  # centre region -> regions its specialists serve (own region first)
    "320500": ("320500", "330100"),
    "330100": ("330100", "320500", "340100"),
    "340100": ("340100",),
    "320000": ("320500",),
}


class Harness:
    def __init__(self, store: QueueStore, clock: Clock, rng: random.Random) -> None:
        self.store, self.clock, self.rng = store, clock, rng
        self.model = QueueModel(TIMING.widen_ms)
        self.model_offers: dict[str, str] = {}  # sid -> agent (incl. deadline below)
        self.deadlines: dict[str, int] = {}
        self.in_service: dict[str, str] = {}  # sid -> agent
        self.booths: dict[str, str] = {}  # sid -> booth
        self.agents: dict[str, ModelAgent] = {}
        self.status: dict[str, str] = {}
        self.misses: dict[str, int] = {}
        self.n = 0
        self.offers_seen = 0

    # --- model bookkeeping mirroring the Lua side effects ---

    def _offered(self, offer: object) -> None:
        if offer is None:
            return
        sid, aid = offer.sid, offer.aid  # type: ignore[attr-defined]
        self.model_offers[sid] = aid
        self.deadlines[sid] = self.clock.ms + TIMING.offer_ms
        self.status[aid] = "offered"

    def _agent_available(self, aid: str, keep_idle: bool) -> None:
        a = self.agents[aid]
        if not keep_idle:
            a.idle_since = self.clock.ms
        self.model.available[aid] = a
        self.status[aid] = "available"

    def _match_agent(self, aid: str) -> None:
        if aid in self.model.available:
            sid = self.model.best_session_for(aid, self.clock.ms)
            if sid:
                self._offered(self.model.offer(sid, aid))

    def _refused(self, sid: str, aid: str, timeout: bool) -> None:
        now = self.clock.ms
        del self.model_offers[sid]
        s = self._sessions[sid]
        s.declined[aid] = now + TIMING.decline_memory_ms
        if timeout:
            self.misses[aid] = self.misses.get(aid, 0) + 1
        else:
            self.misses[aid] = 0
        if self.misses[aid] >= MISSES_BEFORE_AWAY:
            self.status[aid] = "away"
        else:
            self._agent_available(aid, keep_idle=True)
        self._offered(self.model.add_session(s, now))
        self._match_agent(aid)

    # --- operations on both ---

    async def enqueue(self) -> None:
        self.n += 1
        booth = f"b{self.n}"
        region = self.rng.choice(REGIONS)
        lang = "en" if self.rng.random() < 0.15 else "zh"
        priority = "elderly" if self.rng.random() < 0.2 else ""
        res = await self.store.enqueue(booth=booth, intake_centre="sh-huangpu", matter="m", region=region,
                                       lang=lang, priority=priority, source="walk_in", consent=True)
        sid = res.ok["sid"]
        self.booths[sid] = booth
        s = ModelSession(sid, region, lang, lane_for(priority), self.clock.ms)
        self._sessions[sid] = s
        self._offered(self.model.add_session(s, self.clock.ms))

    async def new_agent(self) -> None:
        aid = f"a{len(self.agents):03d}"
        centre_region = self.rng.choice(list(CENTRES))
        langs = ("zh", "en") if self.rng.random() < 0.3 else ("zh",)
        pool = agent_pool(centre_region, CENTRES[centre_region])
        await self.store.agent_login(aid, f"c-{centre_region}", pool, langs)
        self.agents[aid] = ModelAgent(aid, pool, langs, self.clock.ms)
        self.status[aid] = "away"

    async def go_available(self) -> None:
        ready = [a for a, st in self.status.items() if st in ("away", "wrap_up")]
        if not ready:
            return
        aid = self.rng.choice(sorted(ready))
        await self.store.presence(aid, "available")
        self.misses[aid] = 0
        self._agent_available(aid, keep_idle=False)
        self._match_agent(aid)

    async def accept(self) -> None:
        if not self.model_offers:
            return
        sid = self.rng.choice(sorted(self.model_offers))
        aid = self.model_offers.pop(sid)
        await self.store.accept(aid, sid)
        self.misses[aid] = 0
        self.in_service[sid] = aid
        self.status[aid] = "in_service"

    async def decline(self) -> None:
        if not self.model_offers:
            return
        sid = self.rng.choice(sorted(self.model_offers))
        aid = self.model_offers[sid]
        await self.store.decline(aid, sid, "test")
        self._refused(sid, aid, timeout=False)

    async def complete(self) -> None:
        if not self.in_service:
            return
        sid = self.rng.choice(sorted(self.in_service))
        aid = self.in_service.pop(sid)
        await self.store.complete(aid, sid, "consultation")
        self.status[aid] = "wrap_up"

    async def leave(self) -> None:
        candidates = sorted(set(self.model.waiting) | set(self.model_offers))
        if not candidates:
            return
        sid = self.rng.choice(candidates)
        await self.store.leave(sid, self.booths[sid])
        if sid in self.model_offers:
            aid = self.model_offers.pop(sid)
            self._agent_available(aid, keep_idle=True)
            self._match_agent(aid)
        else:
            del self.model.waiting[sid]

    async def time_passes(self) -> None:
        self.clock.advance(self.rng.choice([1, 5, 12, 21, 31]))
        for aid, st in self.status.items():
            if st != "offline":
                await self.store.heartbeat(aid)
        await self.store.tick(limit=1000)
        now = self.clock.ms
        for sid in sorted((s for s, d in self.deadlines.items() if s in self.model_offers and d <= now),
                          key=lambda s: (self.deadlines[s], s)):
            if sid in self.model_offers:
                self._refused(sid, self.model_offers[sid], timeout=True)
        for o in self.model.rematch(now):
            self._offered(o)

    async def compare(self) -> None:
        open_sids = sorted(set(self.model.waiting) | set(self.model_offers) | set(self.in_service))
        got_offers: dict[str, str] = {}
        got_waiting: set[str] = set()
        async with self.store.redis.pipeline(transaction=False) as p:
            for sid in open_sids:
                p.hmget(f"rw:s:{sid}", ["state", "offer_agent"])
            rows = await p.execute()
        for sid, (state, offer_agent) in zip(open_sids, rows, strict=True):
            if state == "offered":
                got_offers[sid] = offer_agent
            elif state == "waiting":
                got_waiting.add(sid)
        assert got_offers == self.model_offers
        assert got_waiting == set(self.model.waiting)
        self.offers_seen += len(got_offers)

    _sessions: dict[str, ModelSession]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_redis_offers_exactly_what_the_model_offers(store: QueueStore, clock: Clock, seed: int) -> None:
    rng = random.Random(seed)
    h = Harness(store, clock, rng)
    h._sessions = {}
    ops = [h.enqueue] * 6 + [h.new_agent] * 1 + [h.go_available] * 4 + [h.accept] * 4 + \
        [h.decline] * 2 + [h.complete] * 3 + [h.leave] * 1
    for _ in range(3):
        await h.new_agent()
    for step in range(400):
        if step % 9 == 8:
            await h.time_passes()
            # keep wrap-up shorter than its timer so only hand switches end it
            for aid, st in list(h.status.items()):
                if st == "wrap_up":
                    await store.presence(aid, "away")
                    h.status[aid] = "away"
        else:
            await rng.choice(ops)()
        await h.compare()
    assert h.n > 50 and h.offers_seen > 50  # the sequence really exercised the router
