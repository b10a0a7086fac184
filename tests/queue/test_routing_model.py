"""The queue's pure rules and their oracle: no loss, no double assignment, order respected.

Table-driven checks of the small rules (the domain's tables and the oracles' plain rules, which
``tests/queue/test_model_vs_redis.py`` holds against the real Lua), then a hypothesis state
machine that throws arbitrary operation sequences at the routing oracle ``QueueModel`` and
checks the invariants after every step. No event loop.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.oracle.presence import after_offer_timeout, manual_switch_refusal
from tests.oracle.routing import (
    ModelAgent,
    ModelSession,
    QueueModel,
    is_widened,
    lane_for,
    queue_score,
)
from window_server.domain.presence import BUSY_STATUSES, SETTABLE, Presence
from window_server.domain.routing import (
    Lane,
    Tier,
    agent_pool,
    estimate_wait_s,
    region_contains,
    region_prefix,
)
from window_server.domain.session import (
    TRANSITIONS,
    Action,
    IllegalTransition,
    State,
    next_state,
    transitions_table,
)


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [((s, a), a, TRANSITIONS[(s, a)]) for (s, a) in TRANSITIONS],
    ids=lambda v: str(v),
)
def test_every_listed_transition(state: tuple[State | None, Action], action: Action, expected: State) -> None:
    assert next_state(state[0], action) == expected


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(Action))
def test_every_unlisted_transition_is_refused_naming_the_state(state: State, action: Action) -> None:
    if (state, action) in TRANSITIONS:
        return
    with pytest.raises(IllegalTransition) as info:
        next_state(state, action, "RW1")
    assert info.value.code == "illegal_transition"
    assert str(state) in info.value.message


def test_lifecycle_of_the_domain_notes() -> None:
    path = [Action.ENQUEUE, Action.OFFER, Action.ACCEPT, Action.TRANSFER, Action.TRANSFER_ACCEPT,
            Action.MEDIA_LOST, Action.MEDIA_BACK, Action.COMPLETE, Action.RATE]
    state: State | None = None
    for action in path:
        state = next_state(state, action)
    assert state is State.RATED
    assert transitions_table()["waiting"]["offer"] == "offered"


@pytest.mark.parametrize(
    ("region", "code", "inside"),
    [("320500", "320505", True), ("320500", "320500", True), ("320000", "320505", True),
     ("310000", "310101", True), ("320500", "330100", False), ("310101", "310110", False)],
)
def test_region_containment(region: str, code: str, inside: bool) -> None:
    assert region_contains(region, code) is inside


def test_region_prefix_and_pools() -> None:
    assert (region_prefix("320500"), region_prefix("310000"), region_prefix("310101")) == ("3205", "31", "310101")
    pool = agent_pool("330100", ["330100", "320500"])
    assert {(e.region, e.tier) for e in pool} == {("330100", Tier.OWN), ("320500", Tier.PARTNER)}


def test_lanes_order_returned_then_priority_then_normal() -> None:
    assert queue_score(Lane.RETURNED, 9_000) < queue_score(Lane.PRIORITY, 1) < queue_score(Lane.NORMAL, 0)
    assert lane_for("elderly") is Lane.PRIORITY and lane_for("") is Lane.NORMAL
    assert lane_for("", returned=True) is Lane.RETURNED


def test_widening_and_estimates() -> None:
    assert not is_widened(1_000, 30_999, 30_000) and is_widened(1_000, 31_000, 30_000)
    assert estimate_wait_s(300, 4, 2) == 600
    assert estimate_wait_s(300, 4, 0) is None


P = Presence
#: (status, holds a session, holds a transfer's reserve) -> what ``rw_presence`` answers a hand
#: switch with. The Lua refuses busy first: an offline specialist whose session waits out its
#: grace is busy, not signed out.
HAND_SWITCH = [
    (P.AVAILABLE, "", "", None),
    (P.AWAY, "", "", None),
    (P.WRAP_UP, "", "", None),  # after a session: ends the wrap-up (and its timer)
    (P.OFFERED, "", "", "presence_busy"),
    (P.IN_SERVICE, "RW1", "", "presence_busy"),
    (P.IN_SERVICE, "RW1", "RW1", "presence_busy"),  # warm transfer in flight
    (P.WRAP_UP, "RW1", "RW1", "presence_busy"),  # cold transfer in flight: held in reserve
    (P.AWAY, "RW1", "", "presence_busy"),  # signed in again while the session waits out its grace
    (P.OFFLINE, "RW1", "", "presence_busy"),
    (P.OFFLINE, "", "", "signed_out"),
]


@pytest.mark.parametrize(("status", "session", "reserve", "refusal"), HAND_SWITCH)
def test_hand_switch_rule(status: Presence, session: str, reserve: str, refusal: str | None) -> None:
    assert manual_switch_refusal(status, session=session, reserve=reserve) == refusal


def test_presence_tables_and_misses() -> None:
    assert not BUSY_STATUSES & SETTABLE  # nobody may ask for a status only a session gives
    assert after_offer_timeout(1) is P.AVAILABLE and after_offer_timeout(2) is P.AWAY


# --- the state machine ----------------------------------------------------------------------

REGIONS = ["320500", "330100"]
WIDEN = 30_000


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = QueueModel(WIDEN)
        self.now = 0
        self.offers: dict[str, str] = {}
        self.sessions: dict[str, ModelSession] = {}
        self.served: dict[str, str] = {}
        self.all_sessions: set[str] = set()
        self.left: set[str] = set()
        self.agents: dict[str, ModelAgent] = {}
        self.busy: set[str] = set()
        self.n = 0

    def _check_choice(self, offer: object) -> None:
        """An offer must be the best pair the policy allows at this moment."""
        if offer is None:
            return
        sid, aid = offer.sid, offer.aid  # type: ignore[attr-defined]
        assert sid not in self.offers and aid not in self.offers.values()
        self.offers[sid] = aid

    @rule(region=st.sampled_from(REGIONS), lang=st.sampled_from(["zh", "zh", "en"]), priority=st.booleans())
    def ticket(self, region: str, lang: str, priority: bool) -> None:
        self.n += 1
        s = ModelSession(f"s{self.n:03d}", region, lang, lane_for("elderly" if priority else ""), self.now)
        self.all_sessions.add(s.sid)
        self.sessions[s.sid] = s
        better = [w for w in self.model.waiting.values() if w.score < s.score]
        offer = self.model.add_session(s, self.now)
        if offer is not None:  # nobody better was waiting for that specialist
            assert all(not self.model.eligible(w, self.agents[offer.aid], self.now) for w in better)
        self._check_choice(offer)

    @rule(centre=st.sampled_from(REGIONS), partner=st.booleans(), en=st.booleans())
    def specialist_available(self, centre: str, partner: bool, en: bool) -> None:
        free = [a for a in self.agents if a not in self.busy and a not in self.model.available
                and a not in self.offers.values()]
        if free:
            a = self.agents[free[0]]
            a.idle_since = self.now
        else:
            aid = f"a{len(self.agents):03d}"
            serves = REGIONS if partner else [centre]
            a = ModelAgent(aid, agent_pool(centre, serves), ("zh", "en") if en else ("zh",), self.now)
            self.agents[aid] = a
        before = {sid: s.score for sid, s in self.model.waiting.items() if self.model.eligible(s, a, self.now)}
        offer = self.model.add_agent(a, self.now)
        if offer is not None:
            assert before[offer.sid] == min(before.values())  # order respected
        else:
            assert not before
        self._check_choice(offer)

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.offers)))
        aid = self.offers.pop(sid)
        self.served[sid] = aid
        self.busy.add(aid)

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.offers)))
        aid = self.offers.pop(sid)
        s = self.sessions[sid]
        s.declined[aid] = self.now + 60_000
        self.model.available[aid] = self.agents[aid]
        self._check_choice(self.model.add_session(s, self.now))
        sid2 = self.model.best_session_for(aid, self.now) if aid in self.model.available else None
        if sid2:
            self._check_choice(self.model.offer(sid2, aid))

    @precondition(lambda self: self.served)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.served)))
        self.busy.discard(self.served.pop(sid))
        self.all_sessions.discard(sid)

    @precondition(lambda self: self.model.waiting)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.model.waiting)))
        del self.model.waiting[sid]
        self.all_sessions.discard(sid)
        self.left.add(sid)

    @rule(seconds=st.integers(min_value=1, max_value=90))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds * 1000
        for offer in self.model.rematch(self.now):
            self._check_choice(offer)

    @invariant()
    def no_loss_and_no_double(self) -> None:
        places = [*self.model.waiting, *self.offers, *self.served]
        assert len(places) == len(set(places)), "a session is in two places"
        assert set(places) == self.all_sessions, "a session was lost"
        holders = [*self.offers.values(), *self.served.values()]
        assert len(holders) == len(set(holders)), "a specialist holds two sessions"
        assert not set(holders) & set(self.model.available)

    @invariant()
    def nothing_pairable_is_left_waiting(self) -> None:
        for s in self.model.waiting.values():
            for a in self.model.available.values():
                assert not self.model.eligible(s, a, self.now)


QueueMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_queue_model = QueueMachine.TestCase
