"""A simulated booth: citizens arrive, take a ticket, wait (or give up), are served, hang up, rate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from window_server.simulate.client import SimClient, next_unless_closing
from window_server.simulate.model import Citizen, handling_s, patience_s, rating_level
from window_server.simulate.recorder import Refused
from window_server.simulate.world import World

log = logging.getLogger(__name__)

FINAL = {"completed", "rated", "abandoned", "no_show", "interrupted"}
HELD = {"in_service", "transferring", "reconnecting"}


class SimBooth(SimClient):
    """One kiosk on /booth. Citizens queue at it in order (one open session per booth)."""

    namespace = "/booth"

    def __init__(self, world: World, booth: str, token: str, rng: random.Random | None = None) -> None:
        super().__init__(world)
        self.booth, self.booth_token = booth, token
        self.rng = rng or world.child_rng()
        self.line: asyncio.Queue[Citizen] = asyncio.Queue()
        self.states: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.current: Citizen | None = None
        self.last: Citizen | None = None
        """the citizen served last (``clear`` ends its session if it is still open)."""
        self.stale: dict[str, Any] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    # --- the socket ------------------------------------------------------------------------

    async def token(self) -> str:
        return await self.world.api.booth_token(self.booth, self.booth_token)

    def on_event(self, event: str, data: Any) -> None:
        if event != "session_state" or not isinstance(data, dict):
            return
        if data.get("act") == "resume" and self.current is None and data.get("state") not in FINAL:
            self.stale = data  # an open session from an earlier run: cleared before the first ticket
        self.states.put_nowait((self.world.now(), data))

    async def clear_stale(self) -> None:
        """End an open session this booth still has from an earlier run (not counted)."""
        stale, self.stale = self.stale, None
        if stale is not None:
            await self._end(stale)

    async def clear_open(self) -> None:
        """End the booth's open session, whatever it is (asked with ``resume``)."""
        with contextlib.suppress(Refused):
            session = (await self.ask("resume", {})).get("session")
            if isinstance(session, dict) and session.get("state") not in FINAL:
                await self._end(session)

    async def _end(self, session: dict[str, Any]) -> None:
        act = "hang_up" if session.get("state") in HELD else "leave_queue"
        with contextlib.suppress(Refused):
            await self.ask(act, {"sid": str(session.get("sid", ""))})
            self.world.counts["stale_cleared"] += 1

    # --- citizens --------------------------------------------------------------------------

    def arrive(self, citizen: Citizen) -> None:
        self.idle.clear()
        self.line.put_nowait(citizen)

    async def run(self) -> None:
        """Serve the line until the run closes."""
        await self.clear_stale()
        while not self.world.closing.is_set():
            if self.line.empty():
                self.idle.set()
            get = asyncio.ensure_future(self.line.get())
            closing = asyncio.ensure_future(self.world.closing.wait())
            try:
                await asyncio.wait((get, closing), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                if not get.done():
                    get.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await get
            if not get.done() or get.cancelled():
                break
            self.current = self.last = get.result()
            try:
                await self.serve(self.current)
            finally:
                self.current = None
        self.idle.set()

    async def _next_state(self, sid: str, until: float | None) -> tuple[float, dict[str, Any]] | None:
        """The next session_state of ``sid`` (others are stale), or None at ``until`` / closing."""
        while True:
            left = None if until is None else until - self.world.now()
            if left is not None and left <= 0:
                return None
            got = await next_unless_closing(self.states, self.world.closing, left)
            if got is None:
                return None
            at, data = got
            if data.get("sid") == sid:
                return at, data

    async def serve(self, c: Citizen) -> None:
        """One citizen's visit, from the ticket to the rating."""
        w, shares = self.world, self.world.cfg.shares
        while not self.states.empty():  # pushes of an earlier session are of no interest now
            self.states.get_nowait()
        ticket = {"matter": c.matter, "priority": c.priority, "consent": True, "lang": "zh", "source": "walk_in"}
        c.requested = w.now()
        try:
            try:
                ok = await self.ask("request_service", ticket)
            except Refused as exc:
                if exc.code != "booth_busy":
                    raise
                await self.clear_open()  # a session left open by an earlier drop or run: end it, once
                c.requested = w.now()
                ok = await self.ask("request_service", ticket)
        except Refused as exc:
            c.requested, c.ended, c.end = None, w.now(), f"refused:{exc.code}"
            return
        c.sid = str(ok["sid"])
        c.acked.add("request")
        give_up = c.requested + w.wall(patience_s(self.rng, shares))
        # waiting: answered, or the citizen gives up (a leave that races an accept may lose)
        leaving = False
        while c.answered is None and c.ended is None:
            got = await self._next_state(c.sid, None if leaving else give_up)
            if got is None:
                if w.closing.is_set():
                    return
                leaving = True
                try:
                    await self.ask("leave_queue", {"sid": c.sid})
                except Refused:
                    continue  # answered meanwhile (its push is on its way), or the socket dropped:
                    # a reconnected booth is told its session's state (resume)
                c.left = c.ended = w.now()
                c.end = "leave"
                c.acked.add("leave")
                return
            at, st = got
            if st.get("state") in HELD:
                c.answered = at
            elif st.get("state") in FINAL:
                c.ended, c.end = at, str(st.get("act", st.get("state")))
                return
        await self.in_service(c)

    async def in_service(self, c: Citizen) -> None:
        w, shares = self.world, self.world.cfg.shares
        assert c.answered is not None
        hang_at = None
        if self.rng.random() < shares.hang_up:  # the citizen ends the call before the specialist does
            hang_at = c.answered + w.wall(handling_s(self.rng, shares) * self.rng.uniform(0.3, 0.9))
        while c.ended is None:
            got = await self._next_state(c.sid, hang_at)
            if got is None:
                if w.closing.is_set():
                    return
                hang_at = None
                try:
                    await self.ask("hang_up", {"sid": c.sid})
                except Refused:
                    continue  # completed meanwhile (its push is on its way), or the socket dropped
                c.ended, c.end = w.now(), "hang_up"
                c.acked.add("hang_up")
                break
            at, st = got
            if st.get("act") == "transfer_accept":
                c.transferred = True
            if st.get("state") in FINAL:
                c.ended, c.end = at, str(st.get("act", ""))
                c.outcome = str(st.get("outcome", ""))
        if c.end in ("complete", "hang_up") and self.rng.random() < shares.rate:
            if not await w.sleep(self.rng.uniform(*shares.rate_delay_s)):
                return
            level = rating_level(self.rng, shares)
            comment = "等待时间太长" if level <= 2 else ""
            with contextlib.suppress(Refused):
                await self.ask("rate", {"sid": c.sid, "level": level, "comment": comment})
                c.rated = level
                c.acked.add("rate")

    async def clear(self) -> None:
        """At the end: a ticket still waiting leaves, a call still held is ended (counted apart)."""
        c = self.last
        if c is None or not c.sid or c.ended is not None:
            return
        act = "leave_queue" if c.answered is None else "hang_up"
        with contextlib.suppress(Refused):
            await self.ask(act, {"sid": c.sid})
            self.world.counts["cleared"] += 1

