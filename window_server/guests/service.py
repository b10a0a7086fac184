"""Guests of a live session (issue 19): who may join, in which mode, invitations and departments' marks.

The rules without Redis are ``domain/guests.py``'s; the ones that need the session's current
state are checked again atomically by the store's Lua (``queue/lua/guests.lua``). Pushes are
``handlers.py``'s: this service answers and says who must be told.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from window_server.accounts.store import AccountStore
from window_server.domain import errors
from window_server.domain import guests as G
from window_server.domain.auth import Principal, Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.session import HELD_STATES
from window_server.guests.store import GuestStore
from window_server.queue.store import QueueStore

log = logging.getLogger(__name__)

_HELD = frozenset(s.value for s in HELD_STATES)


@dataclass(frozen=True)
class GuestRules:
    """The numbers guests run on (settings)."""

    max_guests: int = G.MAX_GUESTS
    invite_ms: int = 120_000


class GuestService:
    """Joins, modes, leaves, invitations and marks."""

    def __init__(self, store: GuestStore, sessions: QueueStore, accounts: AccountStore, catalogue: Catalogue,
                 rules: GuestRules, *, device_online: Callable[[str], Awaitable[bool]],
                 online: Callable[[str], Awaitable[bool]]) -> None:
        self.store = store
        self.sessions = sessions
        self.accounts = accounts
        self.catalogue = catalogue
        self.rules = rules
        self.device_online = device_online  # the booth's device agent is connected
        self.online = online  # a reviewer's /guest page is connected

    # --- reads -----------------------------------------------------------------------------------

    async def _session(self, sid: str) -> dict[str, str]:
        s = await self.sessions.session(sid)
        if not s.get("state"):
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        return s

    async def _agent_centre(self, aid: str) -> str:
        if not aid:
            return ""
        centre = (await self.sessions.agent(aid)).get("centre", "")
        if not centre:
            user = await self.accounts.find_user(aid)
            centre = user.centre if user else ""
        return centre

    async def _name(self, username: str) -> str:
        user = await self.accounts.find_user(username)
        return (user.name or username) if user else username

    async def session_view(self, sid: str, s: dict[str, str]) -> dict[str, Any]:
        """The session as a guest's page shows it."""
        agent = s.get("agent", "")
        return {"sid": sid, "ticket": s.get("ticket", ""), "state": s.get("state", ""), "matter": s.get("matter", ""),
                "region": s.get("region", ""), "language": s.get("lang", ""), "priority": s.get("priority", ""),
                "agent": agent, "agent_name": await self._name(agent) if agent else "",
                "agent_centre": await self._agent_centre(agent), "booth": s.get("booth", "")}

    async def guests(self, sid: str) -> list[dict[str, Any]]:
        return await self.store.guests(sid)

    # --- guests ----------------------------------------------------------------------------------

    async def join(self, principal: Principal, sid: str, mode: str) -> dict[str, Any]:
        """Join ``sid`` in ``mode``: the ack's fields plus ``replaced``, ``booth`` and ``agent`` for the pushes."""
        G.check_mode(principal.role, mode)
        s = await self._session(sid)
        if s["state"] not in _HELD:
            raise errors.Conflict(f"session {sid} is {s['state']}: not live", code="not_live", field="sid")
        agent = s.get("agent", "")
        user = await self.accounts.find_user(principal.subject)
        if user is None:
            raise errors.Forbidden("no such account", code="not_allowed", field="sid")
        reviewer = principal.role is Role.REVIEWER
        if agent == principal.subject:
            raise errors.Forbidden("you serve this session yourself", code="not_allowed", field="sid")
        if not reviewer:
            G.check_supervises(principal, await self._agent_centre(agent))
        guest = {"gid": "g" + secrets.token_hex(4), "user": principal.subject, "role": principal.role.value,
                 "name": user.name or principal.subject, "mode": mode, "centre": user.centre,
                 "department": user.department}
        out = await self.store.join(sid, guest, agent=agent, reviewer=reviewer, max_guests=self.rules.max_guests)
        log.info("guest joined session=%s gid=%s role=%s mode=%s", sid, guest["gid"], guest["role"], mode)
        booth = s.get("booth", "")
        return {"sid": sid, "gid": guest["gid"], "mode": mode, "guests": out["guests"],
                "session": await self.session_view(sid, s),
                "device": bool(booth) and await self.device_online(booth),
                "replaced": out.get("replaced", ""), "booth": out.get("booth", ""), "agent": out.get("agent", "")}

    async def mode(self, principal: Principal, sid: str, mode: str) -> dict[str, Any]:
        G.check_mode(principal.role, mode)
        out = await self.store.mode(sid, principal.subject, mode)
        log.info("guest mode session=%s gid=%s mode=%s", sid, out["guest"]["gid"], mode)
        return out

    async def leave(self, user: str, sid: str, *, gid: str = "", why: str = "left") -> dict[str, Any]:
        out = await self.store.leave(sid, user, gid=gid, why=why)
        if out.get("left"):
            log.info("guest left session=%s gid=%s (%s)", sid, out["guest"]["gid"], why)
        return out

    async def end(self, sid: str) -> dict[str, Any]:
        out = await self.store.end(sid)
        for g in out["ended"]:
            log.info("guest ended session=%s gid=%s (%s)", sid, g["gid"], g.get("cause", ""))
        return out

    # --- invitations -----------------------------------------------------------------------------

    async def reviewers(self, aid: str, sid: str) -> list[dict[str, Any]]:
        """The reviewers of the session's matter's home region, for the specialist holding it."""
        s = await self._session(sid)
        if s.get("agent") != aid:
            raise errors.Forbidden(f"session {sid} is not held by you", code="not_your_session", field="sid")
        region = s.get("region", "")
        out = []
        for u in await self.accounts.list_users():
            if u.role is Role.REVIEWER and u.region == region and not u.disabled:
                out.append({"username": u.username, "name": u.name, "region": u.region, "department": u.department,
                            "online": await self.online(u.username)})
        return out

    async def invite(self, aid: str, sid: str, reviewer: str) -> dict[str, Any]:
        s = await self._session(sid)
        if s.get("agent") != aid:
            raise errors.Forbidden(f"session {sid} is not held by you", code="not_your_session", field="sid")
        if s["state"] not in _HELD:
            raise errors.Conflict(f"session {sid} is {s['state']}: not live", code="not_live", field="sid")
        user = await self.accounts.find_user(reviewer)
        if user is None or user.role is not Role.REVIEWER or user.disabled or user.region != s.get("region", ""):
            raise errors.NotFound("no such reviewer for the session's region", code="unknown_reviewer",
                                  field="reviewer")
        now = self.store.now_ms()
        matter = s.get("matter", "")
        dept = self.catalogue.matter(matter).department if self.catalogue.has_matter(matter) else user.department
        invite = {"id": "i" + secrets.token_hex(8), "sid": sid, "reviewer": reviewer, "reviewer_name": user.name,
                  "by": aid, "by_name": await self._name(aid), "centre": await self._agent_centre(aid),
                  "matter": matter, "region": s.get("region", ""), "department": dept,
                  "deadline": now + self.rules.invite_ms, "state": G.InviteState.PENDING.value, "at": now}
        out = await self.store.invite(sid, aid, invite)
        log.info("invitation %s session=%s", invite["id"], sid)
        return out

    async def reply(self, user: str, invite_id: str, accept: bool) -> dict[str, Any]:
        return await self.store.reply(invite_id, user, accept)

    async def cancel(self, aid: str, invite_id: str) -> dict[str, Any]:
        return await self.store.cancel(invite_id, aid)

    async def pending_for(self, reviewer: str) -> list[dict[str, Any]]:
        return await self.store.pending_for(reviewer)

    # --- marks -----------------------------------------------------------------------------------

    async def mark(self, principal: Principal, sid: str, material_id: str, view: str, note: str) -> dict[str, Any]:
        if principal.role is not Role.REVIEWER:
            raise errors.InvalidInput("only a reviewer marks materials", code="bad_mode", field="mode")
        user = await self.accounts.find_user(principal.subject)
        mark = {"view": view, "note": note, "by": principal.subject, "by_name": user.name if user else "",
                "department": user.department if user else ""}
        out = await self.store.mark(sid, principal.subject, material_id, mark)
        log.info("department mark session=%s material=%s view=%s", sid, material_id, view)
        return out
