"""Guests of a live session (issue 19): supervisors who listen in or step in, and reviewers (三方会商).

Pure: no I/O, no clock. A *guest* is a supervisor (team lead, manager, chain manager) or a reviewer
(an approving department's officer) joined to one session a specialist holds. Supervisors join in
``monitor`` (sees and hears, nobody hears them), ``whisper`` (only the specialist hears them) or
``barge`` (everyone hears them; the booth shows a notice); reviewers join in ``consult`` (everyone
hears them) and only with an accepted invitation of the session's specialist. At most
``MAX_GUESTS`` at once. Invitations go pending → accepted | declined | expired | cancelled; an
accepted one lets its reviewer join (and rejoin) while the session stays live.
"""

from __future__ import annotations

import re
from enum import StrEnum

from window_server.domain.auth import Principal, Role, can_manage_centre
from window_server.domain.errors import Conflict, Forbidden, InvalidInput


class Mode(StrEnum):
    MONITOR = "monitor"
    WHISPER = "whisper"
    BARGE = "barge"
    CONSULT = "consult"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)
SUPERVISOR_ROLES: frozenset[Role] = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER})
GUEST_ROLES: frozenset[Role] = SUPERVISOR_ROLES | {Role.REVIEWER}
_MODES_OF: dict[Role, tuple[Mode, ...]] = {
    **{r: (Mode.MONITOR, Mode.WHISPER, Mode.BARGE) for r in SUPERVISOR_ROLES},
    Role.REVIEWER: (Mode.CONSULT,),
}
#: Who hears a guest in each mode (the booth side: the kiosk and its recording; the specialist).
HEARD_BY: dict[Mode, frozenset[str]] = {
    Mode.MONITOR: frozenset(),
    Mode.WHISPER: frozenset({"agent"}),
    Mode.BARGE: frozenset({"agent", "booth"}),
    Mode.CONSULT: frozenset({"agent", "booth"}),
}
#: Modes the citizen's screen shows a notice for (主管已加入通话 / 审批部门工作人员已加入).
SHOWN_TO_CITIZEN: frozenset[Mode] = frozenset({Mode.BARGE, Mode.CONSULT})

MAX_GUESTS = 2
"""Guests at once per session: booth, specialist and two guests is a mesh of at most four parties."""

GUEST_ID = re.compile(r"g[0-9a-f]{8}")
INVITE_ID = re.compile(r"i[0-9a-f]{16}")
MAX_GUEST_ID = 9
MAX_INVITE_ID = 17
MARK_VIEWS: tuple[str, ...] = ("ok", "not_ok", "unsure")
MAX_MARK_NOTE = 500


class InviteState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class InviteAct(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    EXPIRE = "expire"
    CANCEL = "cancel"


INVITE_STATES: tuple[str, ...] = tuple(s.value for s in InviteState)
#: state -> {act -> state}: only a pending invitation changes.
INVITE_NEXT: dict[str, dict[str, str]] = {
    InviteState.PENDING: {
        InviteAct.ACCEPT: InviteState.ACCEPTED, InviteAct.DECLINE: InviteState.DECLINED,
        InviteAct.EXPIRE: InviteState.EXPIRED, InviteAct.CANCEL: InviteState.CANCELLED,
    },
}
#: The session history's act of each invitation change.
INVITE_HISTORY_ACT: dict[str, str] = {
    InviteAct.ACCEPT: "invite_accept", InviteAct.DECLINE: "invite_decline",
    InviteAct.EXPIRE: "invite_expire", InviteAct.CANCEL: "invite_cancel",
}
#: Every act guests add to a session's history.
HISTORY_ACTS: tuple[str, ...] = ("guest_join", "guest_mode", "guest_leave", "invite", *INVITE_HISTORY_ACT.values(),
                                 "dept_mark")


def is_guest_role(role: Role) -> bool:
    return role in GUEST_ROLES


def modes_for(role: Role) -> tuple[str, ...]:
    """The modes a role may be in as a guest (none for a non-guest role)."""
    return tuple(m.value for m in _MODES_OF.get(role, ()))


def check_mode(role: Role, mode: str) -> Mode:
    """Return ``mode`` if ``role`` may use it; raise bad_mode."""
    if mode not in modes_for(role):
        raise InvalidInput(f"a {role.value} may not be a guest in {mode!r} (allowed: "
                           f"{', '.join(modes_for(role)) or 'none'})", code="bad_mode", field="mode")
    return Mode(mode)


def check_supervises(principal: Principal, agent_centre: str) -> None:
    """A supervisor may join only a session served by a specialist of a centre they manage."""
    if principal.role not in SUPERVISOR_ROLES or not agent_centre or not can_manage_centre(principal, agent_centre):
        raise Forbidden("you may join only sessions served by a specialist of a centre you manage",
                        code="not_allowed", field="sid")


def invite_next(state: str, act: str) -> str:
    """The invitation's state after ``act``; raise invitation_closed if it is no longer pending."""
    to = INVITE_NEXT.get(state, {}).get(act)
    if to is None:
        raise Conflict(f"the invitation is {state}: it cannot {act}", code="invitation_closed", field="id")
    return to


def heard_by(mode: str, party: str) -> bool:
    """Whether ``party`` ('agent' or 'booth') hears a guest in ``mode``."""
    return party in HEARD_BY.get(Mode(mode), frozenset())


def booth_view(guest: dict[str, object]) -> dict[str, object]:
    """What the booth side learns of a guest: no name, no username, no centre."""
    return {k: guest[k] for k in ("gid", "role", "mode", "department") if k in guest}


def public_view(guest: dict[str, object]) -> dict[str, object]:
    """A guest as the specialist and the other guests see it (GUEST): never the username."""
    return {k: guest.get(k, "") for k in ("gid", "role", "name", "mode", "centre", "department", "at")}
