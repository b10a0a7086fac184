"""The pure rules of guests (issue 19): modes per role, who may supervise whom, invitation states,
what the booth learns of a guest. Table-driven, no event loop."""

from __future__ import annotations

import pytest

from window_server.domain import guests as G
from window_server.domain.auth import Principal, Role
from window_server.domain.errors import RemoteWindowError


def who(role: Role, centre: str = "sh-huangpu") -> Principal:
    return Principal(role=role, subject=f"{role.value}-x", centre="" if role is Role.CHAIN_MANAGER else centre)


@pytest.mark.parametrize(("role", "mode", "ok"), [
    (Role.TEAM_LEAD, "monitor", True), (Role.TEAM_LEAD, "whisper", True), (Role.TEAM_LEAD, "barge", True),
    (Role.TEAM_LEAD, "consult", False), (Role.MANAGER, "barge", True), (Role.CHAIN_MANAGER, "monitor", True),
    (Role.CHAIN_MANAGER, "consult", False), (Role.REVIEWER, "consult", True), (Role.REVIEWER, "monitor", False),
    (Role.REVIEWER, "barge", False), (Role.SPECIALIST, "monitor", False), (Role.HALL_STAFF, "monitor", False),
    (Role.BOOTH, "consult", False), (Role.TEAM_LEAD, "shout", False),
])
def test_modes_per_role(role: Role, mode: str, ok: bool) -> None:
    assert (mode in G.modes_for(role)) is ok
    if ok:
        assert G.check_mode(role, mode) == mode
    else:
        with pytest.raises(RemoteWindowError) as err:
            G.check_mode(role, mode)
        assert err.value.code == "bad_mode" and err.value.field == "mode"


@pytest.mark.parametrize(("role", "centre", "agent_centre", "ok"), [
    (Role.TEAM_LEAD, "sh-huangpu", "sh-huangpu", True),
    (Role.TEAM_LEAD, "sh-huangpu", "js-suzhou", False),
    (Role.MANAGER, "sh-huangpu", "sh-huangpu", True),
    (Role.MANAGER, "js-suzhou", "sh-huangpu", False),
    (Role.CHAIN_MANAGER, "", "js-suzhou", True),
    (Role.CHAIN_MANAGER, "", "", False),  # no specialist holds it
    (Role.REVIEWER, "", "sh-huangpu", False),  # reviewers come by invitation only
    (Role.SPECIALIST, "sh-huangpu", "sh-huangpu", False),
])
def test_who_may_supervise(role: Role, centre: str, agent_centre: str, ok: bool) -> None:
    principal = Principal(role=role, subject="x", centre=centre)
    if ok:
        G.check_supervises(principal, agent_centre)
    else:
        with pytest.raises(RemoteWindowError) as err:
            G.check_supervises(principal, agent_centre)
        assert err.value.code == "not_allowed"


@pytest.mark.parametrize(("state", "act", "to"), [
    ("pending", "accept", "accepted"), ("pending", "decline", "declined"), ("pending", "expire", "expired"),
    ("pending", "cancel", "cancelled"), ("accepted", "decline", None), ("accepted", "expire", None),
    ("declined", "accept", None), ("expired", "accept", None), ("cancelled", "accept", None),
    ("expired", "cancel", None),
])
def test_invitation_states(state: str, act: str, to: str | None) -> None:
    if to is not None:
        assert G.invite_next(state, act) == to
    else:
        with pytest.raises(RemoteWindowError) as err:
            G.invite_next(state, act)
        assert err.value.code == "invitation_closed"


@pytest.mark.parametrize(("mode", "agent", "booth", "shown"), [
    ("monitor", False, False, False), ("whisper", True, False, False), ("barge", True, True, True),
    ("consult", True, True, True),
])
def test_who_hears_a_guest(mode: str, agent: bool, booth: bool, shown: bool) -> None:
    assert (G.heard_by(mode, "agent"), G.heard_by(mode, "booth")) == (agent, booth)
    assert (G.Mode(mode) in G.SHOWN_TO_CITIZEN) is shown


GUEST = {"gid": "g0123abcd", "user": "lead-x", "role": "team_lead", "name": "王组长", "mode": "barge",
         "centre": "sh-huangpu", "department": "", "agent": "spec-x", "at": 1}


@pytest.mark.parametrize(("view", "expected"), [
    (G.booth_view, {"gid": "g0123abcd", "role": "team_lead", "mode": "barge", "department": ""}),
    (G.public_view, {"gid": "g0123abcd", "role": "team_lead", "name": "王组长", "mode": "barge",
                     "centre": "sh-huangpu", "department": "", "at": 1}),
])
def test_what_each_side_learns_of_a_guest(view: object, expected: dict[str, object]) -> None:
    assert view(GUEST) == expected  # type: ignore[operator]


def test_history_acts_and_limits() -> None:
    assert G.HISTORY_ACTS == ("guest_join", "guest_mode", "guest_leave", "invite", "invite_accept", "invite_decline",
                              "invite_expire", "invite_cancel", "dept_mark")
    assert G.MAX_GUESTS == 2
    assert {Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER, Role.REVIEWER} == G.GUEST_ROLES
