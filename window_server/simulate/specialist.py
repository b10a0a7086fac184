"""A simulated specialist: signs in, goes available, accepts, declines or misses offers, handles
sessions for a lognormal time, sometimes transfers one, completes with an outcome, wraps up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from window_server.simulate.client import SimClient, next_unless_closing
from window_server.simulate.model import handling_s, offer_choice, weighted, wrap_s
from window_server.simulate.recorder import Refused
from window_server.simulate.world import World

log = logging.getLogger(__name__)

ENDED = {"completed", "rated", "abandoned", "no_show", "interrupted"}
TRANSFER_REASON = "需要属地专员办理"  # shown to the specialists only; never personal data


class SimSpecialist(SimClient):
    """One console on /agent, signed in with a staff login (``username``, ``password``)."""

    namespace = "/agent"

    def __init__(self, world: World, username: str, password: str, rng: random.Random | None = None) -> None:
        super().__init__(world)
        self.username, self.password = username, password
        self.rng = rng or world.child_rng()
        self.cookie = ""
        self.centre = ""
        self.status = "offline"
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.holding = ""
        """the session this specialist holds now ('' none)."""

    async def login(self) -> None:
        """Log in over HTTP (once; the cookie serves every connect) and learn the centre."""
        self.cookie = await self.world.api.login(self.username, self.password)
        me = await self.world.api.get("/api/me", self.cookie)
        self.centre = str(me["user"].get("centre", ""))

    async def token(self) -> str:
        """Log in if needed (the cookie serves every connect), then a connect token for /agent."""
        if not self.cookie:
            await self.login()
        return await self.world.api.staff_token(self.cookie, "/agent")

    @property
    def signed_in(self) -> bool:
        return self.up.is_set()

    def on_event(self, event: str, data: Any) -> None:
        if event == "presence" and isinstance(data, dict):
            self.status = str(data.get("status", ""))
        if event in ("offer", "session_state", "presence"):
            self.inbox.put_nowait((event, data))

    async def _next(self, until: float | None = None) -> tuple[str, Any] | None:
        """The next push, or None at ``until`` (monotonic) or when the run closes."""
        left = None if until is None else max(0.0, until - self.world.now())
        return await next_unless_closing(self.inbox, self.world.closing, left)

    async def available(self) -> None:
        if self.status == "available":
            return
        with contextlib.suppress(Refused):
            await self.ask("presence", {"status": "available"})

    async def run(self) -> None:
        """Work until the run closes: answer offers, serve, wrap up, come back from away."""
        w = self.world
        await self.available()
        while not w.closing.is_set():
            item = await self._next()
            if item is None:
                break
            event, data = item
            if not isinstance(data, dict):
                continue
            if event == "offer":
                await self.on_offer(data)
            elif event == "session_state" and data.get("act") == "resume" and data.get("state") not in ENDED:
                await self.clear_stale(str(data.get("sid", "")))
            elif event == "presence" and self.status in ("away", "wrap_up") and not self.holding:
                # away: set so after two missed offers in a row; wrap_up: a session ended without us.
                # self.status is the latest push, so a stale one queued behind our own wrap-up is ignored.
                pause = w.cfg.shares.away_break_s if self.status == "away" else wrap_s(self.rng, w.cfg.shares)
                if await w.sleep(pause) and self.status in ("away", "wrap_up"):
                    await self.available()

    async def clear_stale(self, sid: str) -> None:
        """A session held since an earlier run (this console reconnected to it): complete it."""
        with contextlib.suppress(Refused):
            await self.ask("complete", {"sid": sid, "outcome": "consultation"})
            self.world.counts["stale_cleared"] += 1
        await self.available()

    async def on_offer(self, offer: dict[str, Any]) -> None:
        w = self.world
        sid = str(offer.get("sid", ""))
        choice = offer_choice(self.rng, w.cfg.shares)
        w.counts[choice] += 1
        if choice == "miss":
            return  # let it ring out: the server times it out (and may set us away)
        # think, but answer before the server's deadline (epoch ms) whatever the speed
        think = w.wall(self.rng.uniform(*w.cfg.shares.think_s))
        deadline_s = float(offer.get("deadline") or 0) / 1000.0
        await asyncio.sleep(max(0.0, min(think, deadline_s - time.time() - 1.0)))
        if w.closing.is_set():
            return
        if choice == "decline":
            with contextlib.suppress(Refused):
                await self.ask("decline", {"sid": sid, "reason": "暂时无法接听"})
            return
        try:
            await self.ask("accept", {"sid": sid})
        except Refused:
            return  # offer_expired: the citizen left, or it ran out
        self.holding = sid
        await self.serve(sid, str(offer.get("matter", "")), transfer=bool(offer.get("transfer")))
        if not w.closing.is_set():
            self.holding = ""  # else the run's clearing completes it

    async def serve(self, sid: str, matter_code: str, *, transfer: bool) -> None:
        """Handle ``sid`` for a lognormal time, maybe transfer it part-way, then complete it."""
        w, shares = self.world, self.world.cfg.shares
        start = w.now()
        end = start + w.wall(handling_s(self.rng, shares))
        hand_over_at = None
        matter = w.matters.get(matter_code)
        if not transfer and matter is not None and self.rng.random() < shares.transfer:
            hand_over_at = start + (end - start) * self.rng.uniform(0.3, 0.6)
        while True:
            until = end if hand_over_at is None else hand_over_at
            item = await self._next(until)
            if item is None:
                if w.closing.is_set():
                    return
                if hand_over_at is not None and matter is not None:
                    hand_over_at = None
                    if await self.hand_over(sid, matter.region):
                        return  # the new specialist has it; we are in wrap-up
                    continue
                break
            event, data = item
            if (event == "session_state" and isinstance(data, dict) and data.get("sid") == sid
                    and data.get("state") in ENDED):  # the citizen hung up (or left): wrap up
                await self.wrap_up()
                return
        await self.complete(sid, matter)
        await self.wrap_up()

    async def hand_over(self, sid: str, region: str) -> bool:
        """A warm transfer to another centre serving the region; True when it was taken over."""
        w = self.world
        targets = w.transfer_targets(region, self.centre)
        if not targets:
            return False
        try:
            await self.ask("transfer", {"sid": sid, "reason": TRANSFER_REASON, "mode": "warm",
                                        "to_centre": self.rng.choice(targets)})
        except Refused:
            return False
        w.counts["transfer"] += 1
        while True:  # warm: we stay in the call until it is accepted, declined or times out
            item = await self._next()
            if item is None:
                return True  # closing: the run's clearing completes it
            event, data = item
            if event != "session_state" or not isinstance(data, dict) or data.get("sid") != sid:
                continue
            act = data.get("act")
            if act == "transfer_accept":
                w.counts["transfer_accept"] += 1
                await self.wrap_up()
                return True
            if act in ("transfer_decline", "transfer_timeout"):
                return False
            if data.get("state") in ENDED:
                await self.wrap_up()
                return True

    async def complete(self, sid: str, matter: Any) -> None:
        w = self.world
        outcome = weighted(self.rng, w.cfg.shares.outcomes, "consultation")
        body: dict[str, Any] = {"sid": sid, "outcome": outcome}
        if outcome == "needs_supplement":
            kinds = list(matter.required) if matter is not None else []
            if not kinds:
                body["outcome"] = "consultation"
            else:
                picked = self.rng.sample(kinds, k=min(len(kinds), self.rng.choice((1, 1, 2))))
                body["missing"] = [{"kind": k, "how": self.rng.choice(("post", "visit"))} for k in picked]
        with contextlib.suppress(Refused):  # illegal_transition: the citizen hung up meanwhile
            await self.ask("complete", body)
            w.completed.add(sid)

    async def wrap_up(self) -> None:
        """The wrap-up, then ready again (立即就绪), unless the run closes meanwhile."""
        if await self.world.sleep(wrap_s(self.rng, self.world.cfg.shares)):
            await self.available()

    async def clear(self, sid: str = "") -> None:
        """At the end: complete a session still held (counted apart)."""
        sid = sid or self.holding
        if not sid:
            return
        with contextlib.suppress(Refused):
            await self.ask("complete", {"sid": sid, "outcome": "consultation"})
            self.world.counts["cleared"] += 1
        self.holding = ""
