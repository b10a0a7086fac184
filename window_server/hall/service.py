"""The hall's service: every hall change goes through it; the board and help list it reads.

A hall is an intake centre: its booths, its seated tickets, its display (叫号屏) and its staff.
What the board shows is public (ticket numbers, counts, booth names): it hangs in the hall.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from window_server.accounts.store import AccountStore, Booth
from window_server.domain.catalogue import Catalogue, Centre
from window_server.domain.errors import NotFound
from window_server.domain.session import State
from window_server.hall.store import HallStore
from window_server.queue.store import Result

#: How long the list of a hall's booths is reused (booths are added and revoked rarely).
BOOTHS_TTL_S = 10.0
#: Booth states that count as waiting at a booth on the board (offered: a specialist is being asked).
WAITING_AT_BOOTH = frozenset({State.WAITING.value, State.OFFERED.value})


class HallService:
    """Sitting down, claiming a call, help calls; the board and the help list of a hall."""

    def __init__(self, store: HallStore, accounts: AccountStore, catalogue: Catalogue) -> None:
        self.store = store
        self.accounts = accounts
        self.catalogue = catalogue
        self._booths: tuple[float, list[Booth]] = (0.0, [])

    @property
    def call_back_s(self) -> int:
        """Seconds a called ticket waits to be claimed (RW_CALL_BACK_SECONDS): the slip says it."""
        return self.store.queue.timing.call_back_ms // 1000

    def centre(self, centre: str) -> Centre:
        """The hall's centre from the catalogue; NotFound ``unknown_centre``."""
        if not self.catalogue.has_centre(centre):
            raise NotFound(f"no centre {centre[:64]!r} in the chain", code="unknown_centre", field="centre")
        return self.catalogue.centre(centre)

    async def booths(self, centre: str, *, fresh: bool = False) -> list[Booth]:
        """The hall's booths (not revoked), by id; ``fresh``: not the list of the last seconds."""
        at, booths = self._booths
        if fresh or time.monotonic() - at > BOOTHS_TTL_S:
            booths = await self.accounts.list_booths()
            self._booths = (time.monotonic(), booths)
        return [b for b in booths if b.centre == centre and not b.revoked]

    # --- changes ---------------------------------------------------------------------------------

    async def sit_down(self, sid: str, booth: str) -> Result:
        return await self.store.sit_down(sid, booth)

    async def claim(self, sid: str, booth: str, centre: str) -> Result:
        return await self.store.claim(sid, booth, centre)

    async def call_staff(self, centre: str, booth: str, reason: str) -> Result:
        return await self.store.call_staff(centre, booth, reason, True)

    async def cancel_staff(self, centre: str, booth: str) -> Result:
        return await self.store.call_staff(centre, booth, "", False)

    async def staff_ack(self, centre: str, booth: str, by: str) -> Result:
        return await self.store.staff_ack(centre, booth, by)

    # --- reads -----------------------------------------------------------------------------------

    async def calls(self, centre: str) -> list[dict[str, Any]]:
        """The tickets the hall is calling now, as the booths get them."""
        return [{"sid": c.sid, "ticket": c.ticket, "deadline": c.deadline} for c in await self.store.calls(centre)]

    async def help_of(self, centre: str, booth: str) -> dict[str, Any] | None:
        """One booth's help call as the booth sees it ({since, reason}), or None."""
        mine = await self.store.help_call(centre, booth)
        return {"since": mine.since, "reason": mine.reason} if mine else None

    async def board(self, centre: str) -> dict[str, Any]:
        """The hall display's board: called tickets, how many wait at booths and seated. No personal data."""
        c = self.centre(centre)
        calls = await self.store.calls(centre)
        booths = await self.booths(centre)
        states = await self.store.booth_states([b.booth for b in booths])
        seated = await self.store.seated_count(centre)
        return {
            "centre": {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en},
            "calls": [{"ticket": x.ticket, "called": x.called, "deadline": x.deadline} for x in calls],
            "waiting": sum(1 for st, _t in states.values() if st in WAITING_AT_BOOTH),
            "seated": max(0, seated - len(calls)),
            "booths": len(booths),
            "free_booths": sum(1 for st, _t in states.values() if not st),
            "now": self.store.now_ms(),
        }

    async def help_list(self, centre: str) -> dict[str, Any]:
        """The hall staff view: booths calling for help, the longest waiting first."""
        c = self.centre(centre)
        calls = await self.store.help_calls(centre)
        booths = {b.booth: b for b in await self.booths(centre)}
        if any(h.booth not in booths for h in calls):  # a booth added since the list was read
            booths = {b.booth: b for b in await self.booths(centre, fresh=True)}
        states = await self.store.booth_states([h.booth for h in calls])
        return {
            "centre": {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en},
            "calls": [{"booth": h.booth, "name": booths[h.booth].name if h.booth in booths else h.booth,
                       "since": h.since, "reason": h.reason, "ticket": states.get(h.booth, ("", ""))[1]}
                      for h in calls],
            "now": self.store.now_ms(),
        }


HALL = web.AppKey("hall", HallService)
