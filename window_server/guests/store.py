"""The Redis side of guests: every change one call of the queue library (``queue/lua/guests.lua``).

The Lua functions check the session is live, membership, the cap and invitation states, and
append the session's history (``annotate``) in the same call. This module hands them the tables
they use (the invitation transitions, the cap) and reads the read models: the guests of a session,
a reviewer's pending invitations, the sessions with guests.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.domain.guests import (
    INVITE_HISTORY_ACT,
    INVITE_NEXT,
    InviteAct,
    InviteState,
    Mode,
)
from window_server.queue.store import QueueStore
from window_server.store.keys import key

_NEXT = {str(state): {str(act): str(to) for act, to in acts.items()} for state, acts in INVITE_NEXT.items()}
_HIST = {str(act): hist for act, hist in INVITE_HISTORY_ACT.items()}


def _list(value: Any) -> list[dict[str, Any]]:
    """A Lua array (an empty one encodes as {})."""
    return list(value) if isinstance(value, list) else []


class GuestStore:
    """Guests, invitations and departments' marks in Redis."""

    def __init__(self, queue: QueueStore, redis: Redis) -> None:
        self.queue = queue
        self.redis = redis

    def now_ms(self) -> int:
        return self.queue.now_ms()

    # --- guests ----------------------------------------------------------------------------------

    async def join(self, sid: str, guest: dict[str, Any], *, agent: str, reviewer: bool, max_guests: int
                   ) -> dict[str, Any]:
        """Add a guest (``{gid, user, role, name, mode, centre, department}``): ``{guest, replaced, guests,
        booth, agent}``."""
        res = await self.queue.call("rw_guest_join", sid=sid, agent=agent, reviewer=reviewer, max=max_guests,
                                    accepted=InviteState.ACCEPTED.value, **guest)
        out = dict(res.ok)
        out["guests"] = _list(out.get("guests"))
        return out

    async def mode(self, sid: str, user: str, mode: str) -> dict[str, Any]:
        res = await self.queue.call("rw_guest_mode", sid=sid, user=user, mode=mode)
        out = dict(res.ok)
        out["guests"] = _list(out.get("guests"))
        return out

    async def leave(self, sid: str, user: str, *, gid: str = "", why: str = "left") -> dict[str, Any]:
        """Remove the user's place (only ``gid``'s, if given): ``{left: false}`` when they had none."""
        res = await self.queue.call("rw_guest_leave", sid=sid, user=user, gid=gid, why=why)
        out = dict(res.ok)
        out["guests"] = _list(out.get("guests"))
        return out

    async def end(self, sid: str) -> dict[str, Any]:
        """End the guests of a session no longer live or now held by another specialist."""
        res = await self.queue.call("rw_guests_end", sid=sid)
        out = dict(res.ok)
        out["ended"] = _list(out.get("ended"))
        out["guests"] = _list(out.get("guests"))
        return out

    async def guests(self, sid: str) -> list[dict[str, Any]]:
        raw = cast(list[str], await self.redis.hvals(key("guests", sid=sid)))
        return sorted((json.loads(v) for v in raw), key=lambda g: (int(g.get("at") or 0), g["gid"]))

    async def guested(self) -> list[str]:
        """Sessions with guests now."""
        return sorted(cast(set[str], await self.redis.smembers(key("guested"))))

    async def has_guests(self, sid: str) -> bool:
        return bool(await self.redis.sismember(key("guested"), sid))

    # --- invitations -----------------------------------------------------------------------------

    async def invite(self, sid: str, aid: str, invite: dict[str, Any]) -> dict[str, Any]:
        res = await self.queue.call("rw_invite", sid=sid, aid=aid, invite=invite, pending=InviteState.PENDING.value)
        return dict(res.ok)

    async def reply(self, invite_id: str, user: str, accept: bool) -> dict[str, Any]:
        act = InviteAct.ACCEPT if accept else InviteAct.DECLINE
        res = await self.queue.call("rw_invite_reply", id=invite_id, user=user, act=act.value, next=_NEXT,
                                    hist=_HIST, pending=InviteState.PENDING.value)
        return dict(res.ok)

    async def cancel(self, invite_id: str, aid: str) -> dict[str, Any]:
        res = await self.queue.call("rw_invite_cancel", id=invite_id, aid=aid, act=InviteAct.CANCEL.value,
                                    next=_NEXT, hist=_HIST)
        return dict(res.ok)

    async def expire(self, *, limit: int = 100, now: int | None = None) -> list[dict[str, Any]]:
        """Expire pending invitations past their deadline; return them."""
        res = await self.queue.call("rw_invites_expire", durable=False, now=now, limit=limit, act=InviteAct.EXPIRE.value,
                                    next=_NEXT, hist=_HIST)
        return _list(res.ok.get("expired"))

    async def pending_for(self, reviewer: str) -> list[dict[str, Any]]:
        """A reviewer's pending invitations, soonest deadline first."""
        ids = cast(list[str], await self.redis.zrange(key("reviewer_invites", reviewer=reviewer), 0, -1))
        out = []
        for invite_id in ids:
            inv = await self.invitation(invite_id)
            if inv is not None and inv.get("state") == InviteState.PENDING:
                out.append(inv)
        return out

    async def invitation(self, invite_id: str) -> dict[str, Any] | None:
        sid = cast(str | None, await self.redis.get(key("invite", id=invite_id)))
        if sid is None:
            return None
        raw = cast(str | None, await self.redis.hget(key("invites", sid=sid), invite_id))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def invitations(self, sid: str) -> list[dict[str, Any]]:
        raw = cast(list[str], await self.redis.hvals(key("invites", sid=sid)))
        return sorted((json.loads(v) for v in raw), key=lambda i: (int(i.get("at") or 0), i["id"]))

    # --- departments' marks --------------------------------------------------------------------------

    async def mark(self, sid: str, user: str, material_id: str, mark: dict[str, Any]) -> dict[str, Any]:
        res = await self.queue.call("rw_dept_mark", sid=sid, user=user, material_id=material_id, mark=mark,
                                    mode=Mode.CONSULT.value)
        return dict(res.ok)
