"""Holds and oversight: who may read the access log, who may set a legal hold; setting and lifting one.

A session under a hold keeps its recording and stills past retention: a legal hold a manager
sets and lifts (each an event of the session, ``hold_set`` / ``hold_lifted``), or an open
bad-review follow-up (the dashboard's; it is released when the last follow-up step is recorded).

Who may (pure rules, over the session's parties):

- read a session's access log: its intake or serving centres' managers and team leads, and chain
  managers (``may_view`` without the specialists who served it and without booths);
- read a person's access log: a manager for the people of their own centre, a chain manager for
  anyone;
- see, set or lift a legal hold: managers of the session's centres, and chain managers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from window_server.domain import errors
from window_server.domain import materials as M
from window_server.domain.auth import Principal, Role, can_manage_centre
from window_server.recording.holds_store import HoldsStore, UnknownSession

log = logging.getLogger(__name__)

MAX_REASON = 500
OVERSIGHT_ROLES = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER})
HOLD_ROLES = frozenset({Role.MANAGER, Role.CHAIN_MANAGER})
PERSON_ROLES = frozenset({Role.MANAGER, Role.CHAIN_MANAGER})

Parties = Callable[[str], Awaitable[M.SessionParties]]


def _centres(parties: M.SessionParties) -> list[str]:
    return [c for c in (parties.intake_centre, *parties.serving_centres) if c]


def may_read_access(principal: Principal, parties: M.SessionParties) -> bool:
    """Managers and team leads of the session's intake or a serving centre; chain managers."""
    return principal.role in OVERSIGHT_ROLES and any(can_manage_centre(principal, c) for c in _centres(parties))


def may_hold(principal: Principal, parties: M.SessionParties) -> bool:
    """Managers of the session's intake or a serving centre; chain managers."""
    return principal.role in HOLD_ROLES and any(can_manage_centre(principal, c) for c in _centres(parties))


def may_read_person(principal: Principal, person_centre: str | None) -> bool:
    """A chain manager: anyone; a manager: the people (and booths) of their own centre."""
    if principal.role is Role.CHAIN_MANAGER:
        return True
    return principal.role is Role.MANAGER and bool(person_centre) and person_centre == principal.centre


def check_reason(reason: object) -> str:
    """A hold's reason: text of 1 to 500 characters without control characters; raise InvalidInput."""
    if not isinstance(reason, str):
        raise errors.InvalidInput("reason must be text", field="reason")
    reason = reason.strip()
    if not reason:
        raise errors.InvalidInput("a legal hold needs a reason", code="reason_required", field="reason")
    if len(reason) > MAX_REASON:
        raise errors.InvalidInput(f"reason is longer than {MAX_REASON} characters", field="reason")
    if any(ord(ch) < 32 for ch in reason):
        raise errors.InvalidInput("reason may not contain control characters", field="reason")
    return reason


def out_of_scope(message: str) -> errors.Forbidden:
    return errors.Forbidden(message, code="out_of_scope", field="sid")


class Holds:
    """Legal holds with their events, and what holds a session."""

    def __init__(self, store: HoldsStore, parties: Parties, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.parties = parties
        self.now_ms = now_ms

    async def _authorised(self, principal: Principal, sid: str) -> M.SessionParties:
        parties = await self.parties(sid)  # 404 unknown_session
        if not may_hold(principal, parties):
            raise out_of_scope(f"session {sid} is not of a centre you manage")
        return parties

    async def view(self, principal: Principal, sid: str) -> dict[str, Any]:
        """The session's holds: the legal one (or null) and whether a bad-review follow-up is open."""
        await self._authorised(principal, sid)
        return await self.state(sid)

    async def state(self, sid: str) -> dict[str, Any]:
        legal = await self.store.legal(sid)
        due = await self.store.review_due(sid)
        return {"sid": sid, "held": legal is not None or due is not None, "legal": legal,
                "review_open": due is not None, "review_due": due}

    async def set(self, principal: Principal, sid: str, reason: object) -> dict[str, Any]:
        """Set (or replace) the legal hold; the event ``hold_set`` says who, when and why."""
        await self._authorised(principal, sid)
        text = check_reason(reason)
        try:
            before = await self.store.set_legal(sid, by=principal.subject, reason=text, now=self.now_ms())
        except UnknownSession:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid") from None
        log.info("legal hold %s on session=%s by=%s", "replaced" if before else "set", sid, principal.subject)
        return await self.state(sid)

    async def lift(self, principal: Principal, sid: str) -> dict[str, Any]:
        """Lift the legal hold (404 ``no_hold`` without one); the event ``hold_lifted`` says who and when."""
        await self._authorised(principal, sid)
        try:
            before = await self.store.lift_legal(sid, by=principal.subject, now=self.now_ms())
        except UnknownSession:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid") from None
        if before is None:
            raise errors.NotFound(f"session {sid} has no legal hold", code="no_hold", field="sid")
        log.info("legal hold lifted on session=%s by=%s", sid, principal.subject)
        return await self.state(sid)
