"""KPIs over the event log: a hand-computed day, edge cases, grouping, occupancy, live == batch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from window_server.domain.metrics import (
    PRESENCE,
    WRAP_END,
    GroupKey,
    KpiAccumulator,
    Kpis,
    Occupancy,
    compute_kpis,
    kpis_by,
    occupancy,
    pair_key,
)
from window_server.domain.session import FINAL_STATES, TRANSITIONS, Action, State, next_state

T0 = 1_767_229_200_000  # 2026-01-01 09:00 +08:00, the start of the day's window
T_ANSWER_S, S_SHORT_S = 20, 5
HP, WJ = "sh-huangpu", "js-wujiang"  # intake centres
QP, JS = "sh-qingpu", "zj-jiashan"  # serving centres
AGENT_CENTRE = {"a1": QP, "a2": QP, "a3": JS}

Event = dict[str, str]
ACTIONS = {a.value for a in Action}


def at(seconds: float) -> int:
    return T0 + int(seconds * 1000)


class Log:
    """Write a legal event log the way the queue does (states checked by the real table)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.state: dict[str, State | None] = {}

    def s(self, act: str, sid: str, t: float, **extra: str) -> Log:
        old = self.state.get(sid)
        new = next_state(old, Action(act), sid) if act in ACTIONS else old
        self.state[sid] = new
        if extra.get("agent") and act in ("accept", "transfer_accept", "complete"):
            extra.setdefault("agent_centre", AGENT_CENTRE[extra["agent"]])
        self.events.append({"sid": sid, "act": act, "from": old or "", "to": new or "",
                            "by": "", "why": "", "ts": str(at(t)), **extra})
        return self

    def enqueue(self, sid: str, t: float, intake: str, matter: str) -> Log:
        return self.s("enqueue", sid, t, intake=intake, matter=matter, region="330421",
                      priority="", source="walk_in", lang="zh", booth="b1", ticket="A001")

    def wrap_end(self, aid: str, sid: str, t: float) -> Log:
        self.events.append({"aid": aid, "act": WRAP_END, "sid": sid, "ts": str(at(t)),
                            "from": "wrap_up", "to": "available"})
        return self

    def presence(self, aid: str, t: float, old: str, new: str, sid: str = "") -> Log:
        self.events.append({"aid": aid, "act": PRESENCE, "from": old, "to": new, "why": "",
                            "ts": str(at(t)), "sid": sid, "centre": AGENT_CENTRE[aid]})
        return self


def the_day() -> list[Event]:
    """Fifteen sessions from 09:00 (times in seconds after T0), and one from before it."""
    log = Log()
    # S00: enqueued before the window: never counted in the day.
    log.enqueue("S00", -60, HP, "m-biz").s("offer", "S00", -55, agent="a1")
    log.s("accept", "S00", -50, agent="a1").s("complete", "S00", 100, agent="a1")
    log.wrap_end("a1", "S00", 120)
    # S01: answered fast (10 s); handled 10 -> wrap-up end 340 = 330 s; rated 5.
    log.enqueue("S01", 0, HP, "m-biz").s("offer", "S01", 2, agent="a1")
    log.presence("a1", 2, "available", "offered", "S01")
    log.s("accept", "S01", 10, agent="a1").presence("a1", 10, "offered", "in_service", "S01")
    log.s("note", "S01", 30)  # an annotation: no effect on KPIs
    log.s("complete", "S01", 310, agent="a1", outcome="intake")
    log.presence("a1", 310, "in_service", "wrap_up", "S01")
    log.wrap_end("a1", "S01", 340).s("rate", "S01", 345, level="5", matter="m-biz", intake=HP)
    # S02: answered slowly (30 s); handled 50 -> 500 = 450 s; rated 4.
    log.enqueue("S02", 20, HP, "m-biz").s("offer", "S02", 45, agent="a2")
    log.s("accept", "S02", 50, agent="a2").s("complete", "S02", 470, agent="a2")
    log.wrap_end("a2", "S02", 500).s("rate", "S02", 501, level="4")
    # S03: a short abandon (3 s). S04: a long abandon (120 s).
    log.enqueue("S03", 40, HP, "m-social").s("leave", "S03", 43, wait_ms="3000")
    log.enqueue("S04", 60, HP, "m-social").s("leave", "S04", 180, wait_ms="120000")
    # S05: declined once, answered at 15 s by a3 (zj-jiashan), transferred to a1 who accepts;
    # a3's wrap-up at 240 is not the end; a1 completes at 600, wraps up at 630: 515 s; rated 2.
    log.enqueue("S05", 100, WJ, "m-biz").s("offer", "S05", 101, agent="a3")
    log.s("decline", "S05", 105, agent="a3").s("offer", "S05", 106, agent="a3")
    log.s("accept", "S05", 115, agent="a3")
    log.s("transfer", "S05", 200, mode="warm", to_agent="a1", to_centre=QP)
    log.s("transfer_accept", "S05", 210, agent="a1", from_agent="a3")
    log.wrap_end("a3", "S05", 240).s("complete", "S05", 600, agent="a1")
    log.wrap_end("a1", "S05", 630).s("rate", "S05", 640, level="2")
    # S06: answered at 10 s by a2; transfer declined; a2 completes 700, wraps up 720: 580 s.
    log.enqueue("S06", 130, WJ, "m-biz").s("offer", "S06", 135, agent="a2")
    log.s("accept", "S06", 140, agent="a2")
    log.s("transfer", "S06", 300, mode="cold", to_agent="", to_centre=JS)
    log.s("transfer_decline", "S06", 320, agent="a2", to_agent="a3")
    log.s("complete", "S06", 700, agent="a2").wrap_end("a2", "S06", 720)
    # S07: offer timed out; answered at 60 s by a3; completed 500, no wrap-up yet: 240 s; rated 1.
    log.enqueue("S07", 200, HP, "m-biz").s("offer", "S07", 205, agent="a3")
    log.s("offer_timeout", "S07", 215, agent="a3").s("offer", "S07", 255, agent="a3")
    log.s("accept", "S07", 260, agent="a3").s("complete", "S07", 500, agent="a3")
    log.s("rate", "S07", 510, level="1")
    # S08: called, nobody at the booth (never answered).
    log.enqueue("S08", 300, HP, "m-social").s("offer", "S08", 302, agent="a2")
    log.s("no_show", "S08", 330, agent="a2")
    # S09: answered at 5 s; completed 605, wraps up 615: 210 s; rated 3.
    log.enqueue("S09", 400, WJ, "m-social").s("offer", "S09", 402, agent="a1")
    log.s("accept", "S09", 405, agent="a1").s("complete", "S09", 605, agent="a1")
    log.wrap_end("a1", "S09", 615).s("rate", "S09", 620, level="3")
    # S10: answered at exactly T (20 s), then nobody at the booth at 560: 40 s.
    log.enqueue("S10", 500, WJ, "m-biz").s("offer", "S10", 510, agent="a3")
    log.s("accept", "S10", 520, agent="a3").s("no_show", "S10", 560, agent="a3")
    # S11: leaves at exactly S (5 s): a short abandon.
    log.enqueue("S11", 600, HP, "m-biz").s("leave", "S11", 605, wait_ms="5000")
    # S12: answered at 50 s by a1; booth lost, interrupted 830, a1 wraps up 850: 150 s.
    log.enqueue("S12", 650, HP, "m-biz").s("offer", "S12", 690, agent="a1")
    log.s("accept", "S12", 700, agent="a1").s("media_lost", "S12", 800, party="booth")
    log.s("interrupt", "S12", 830, agent="a1").wrap_end("a1", "S12", 850)
    # S13: still waiting at the end of the log.
    log.enqueue("S13", 700, WJ, "m-social")
    # S14: answered at 5 s; transfer timed out; still in service: not in the AHT.
    log.enqueue("S14", 720, HP, "m-social").s("offer", "S14", 722, agent="a2")
    log.s("accept", "S14", 725, agent="a2")
    log.s("transfer", "S14", 760, mode="warm", to_agent="a3", to_centre=JS)
    log.s("transfer_timeout", "S14", 790, agent="a2", to_agent="a3")
    # S15: answered at 12 s by a3; completed 900, wraps up 930: 118 s; rated 5.
    log.enqueue("S15", 800, WJ, "m-biz").s("offer", "S15", 805, agent="a3")
    log.s("accept", "S15", 812, agent="a3").s("complete", "S15", 900, agent="a3")
    log.wrap_end("a3", "S15", 930).s("rate", "S15", 940, level="5")
    # Written session by session; the log itself is in time order (the sort is stable).
    return sorted(log.events, key=lambda e: int(e["ts"]))


def assert_kpis(got: Kpis, want: Kpis) -> None:
    g, w = dataclasses.asdict(got), dataclasses.asdict(want)
    assert g.pop("rating_levels") == w.pop("rating_levels")
    assert g == pytest.approx(w)


# Every number below is worked out by hand from the comments in the_day().
DAY_CHAIN = Kpis(
    tickets=15, served=10, abandoned=3, short_abandons=2, no_show=2, completed=7, interrupted=1,
    answered_within_t=7, handled=9, transfers=3, transfers_accepted=1, transfers_declined=1,
    transfers_timed_out=1, ratings=6, satisfied=4, bad_reviews=2, rating_levels=(1, 1, 1, 1, 2),
    asa_s=21.7,  # (10+30+15+10+60+5+20+50+5+12) / 10
    service_level=7 / 11,  # 7 within 20 s / (10 answered + 3 abandoned - 2 short)
    abandonment_rate=0.2,  # 3 / 15
    aht_s=2633 / 9,  # (330+450+515+580+240+210+40+150+118) / 9
    satisfaction=4 / 6,
    rating_coverage=6 / 7,
)
DAY_HP = Kpis(
    tickets=9, served=5, abandoned=3, short_abandons=2, no_show=1, completed=3, interrupted=1,
    answered_within_t=2, handled=4, transfers=1, transfers_timed_out=1, ratings=3, satisfied=2,
    bad_reviews=1, rating_levels=(1, 0, 0, 1, 1), asa_s=31.0, service_level=2 / 6,
    abandonment_rate=3 / 9, aht_s=292.5, satisfaction=2 / 3, rating_coverage=1.0,
)
DAY_WJ = Kpis(
    tickets=6, served=5, no_show=1, completed=4, answered_within_t=5, handled=5, transfers=2,
    transfers_accepted=1, transfers_declined=1, ratings=3, satisfied=2, bad_reviews=1,
    rating_levels=(0, 1, 1, 0, 1), asa_s=12.4, service_level=1.0, abandonment_rate=0.0,
    aht_s=292.6, satisfaction=2 / 3, rating_coverage=0.75,
)


def day_kpis(**window: int | None) -> Kpis:
    return compute_kpis(the_day(), t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S, **window)


def test_the_day_chain_totals() -> None:
    assert_kpis(day_kpis(start_ms=T0), DAY_CHAIN)


@pytest.mark.parametrize(
    ("window", "counts"),
    [
        # (tickets, served, answered within T, handled, ratings)
        ({"start_ms": T0}, (15, 10, 7, 9, 6)),
        ({}, (16, 11, 8, 10, 6)),  # S00 counts without a start
        ({"start_ms": T0, "end_ms": at(700)}, (12, 8, 5, 8, 5)),  # S13 (at 700) is out: [start, end)
        ({"start_ms": at(800), "end_ms": at(801)}, (1, 1, 1, 1, 1)),  # S15 only, events after end count
        ({"start_ms": at(2000)}, (0, 0, 0, 0, 0)),
    ],
)
def test_sessions_are_assigned_by_enqueue_time(window: dict[str, int], counts: tuple[int, ...]) -> None:
    k = day_kpis(**window)
    assert (k.tickets, k.served, k.answered_within_t, k.handled, k.ratings) == counts


@pytest.mark.parametrize(
    ("key", "want"),
    [
        (GroupKey.INTAKE, {HP: DAY_HP, WJ: DAY_WJ}),
    ],
)
def test_the_day_grouped_in_full(key: GroupKey, want: dict[str, Kpis]) -> None:
    got = kpis_by(the_day(), key, t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S, start_ms=T0)
    assert got.keys() == want.keys()
    for group, kpis in want.items():
        assert_kpis(got[group], kpis)


@pytest.mark.parametrize(
    ("key", "want"),
    [
        # group: (tickets, served, abandoned, no_show, asa_s)
        (GroupKey.SERVING, {QP: (6, 6, 0, 0, 110 / 6), JS: (4, 4, 0, 1, 26.75),
                            "": (5, 0, 3, 1, None)}),
        (GroupKey.MATTER, {"m-biz": (9, 8, 1, 1, 207 / 8), "m-social": (6, 2, 2, 1, 5.0)}),
        (GroupKey.PAIR, {
            pair_key(HP, QP): (4, 4, 0, 0, 23.75),  # S01 S02 S12 S14
            pair_key(HP, JS): (1, 1, 0, 0, 60.0),  # S07
            pair_key(WJ, QP): (2, 2, 0, 0, 7.5),  # S06 S09
            pair_key(WJ, JS): (3, 3, 0, 1, 47 / 3),  # S05 S10 S15
            pair_key(HP, ""): (4, 0, 3, 1, None),  # S03 S04 S08 S11
            pair_key(WJ, ""): (1, 0, 0, 0, None),  # S13
        }),
    ],
)
def test_the_day_grouped(key: GroupKey, want: dict[str, tuple[Any, ...]]) -> None:
    got = kpis_by(the_day(), key, t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S, start_ms=T0)
    assert got.keys() == want.keys()
    for group, counts in want.items():
        k = got[group]
        assert (k.tickets, k.served, k.abandoned, k.no_show, k.asa_s) == pytest.approx(counts)


def test_pair_key_reads_intake_then_serving() -> None:
    assert pair_key(HP, QP) == "sh-huangpu→sh-qingpu"


def test_the_day_live_matches_batch_after_every_event() -> None:
    events = the_day()
    acc = KpiAccumulator(t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S, start_ms=T0)
    for n, event in enumerate(events, 1):
        acc.add(event)
        assert acc.snapshot() == compute_kpis(events[:n], t_answer_s=T_ANSWER_S,
                                              s_short_s=S_SHORT_S, start_ms=T0)
    assert_kpis(acc.snapshot(), DAY_CHAIN)
    assert_kpis(acc.snapshot_by(GroupKey.INTAKE)[WJ], DAY_WJ)


# --------------------------------------------------------------------------------- edge cases


def one(*steps: tuple[str, str, float, dict[str, str]]) -> list[Event]:
    log = Log()
    for act, sid, t, extra in steps:
        if act == "enqueue":
            log.enqueue(sid, t, HP, "m-biz")
        elif act == WRAP_END:
            log.wrap_end(extra["aid"], sid, t)
        else:
            log.s(act, sid, t, **extra)
    return log.events


E = {"agent": "a1"}
ANSWERED = [("enqueue", "X", 0, {}), ("offer", "X", 1, E), ("accept", "X", 4, E)]
COMPLETED = [*ANSWERED, ("complete", "X", 64, E)]


@pytest.mark.parametrize(
    ("events", "want"),
    [
        pytest.param([], Kpis(), id="empty log"),
        pytest.param([{"aid": "a1", "act": PRESENCE, "from": "away", "to": "available",
                       "ts": str(T0), "sid": "", "centre": QP}], Kpis(), id="presence only"),
        pytest.param(one(("enqueue", "X", 0, {})), Kpis(tickets=1, abandonment_rate=0.0),
                     id="one session waiting"),
        pytest.param(one(("enqueue", "X", 0, {}), ("leave", "X", 2, {})),
                     Kpis(tickets=1, abandoned=1, short_abandons=1, abandonment_rate=1.0),
                     id="only a short abandon: service level has no base"),
        pytest.param(one(("enqueue", "X", 0, {}), ("leave", "X", 6, {})),
                     Kpis(tickets=1, abandoned=1, service_level=0.0, abandonment_rate=1.0),
                     id="a long abandon"),
        pytest.param(one(*ANSWERED), Kpis(tickets=1, served=1, answered_within_t=1, asa_s=4.0,
                                          service_level=1.0, abandonment_rate=0.0),
                     id="answered, in service: no AHT yet"),
        pytest.param(one(*COMPLETED), Kpis(tickets=1, served=1, completed=1, answered_within_t=1,
                                           handled=1, asa_s=4.0, service_level=1.0,
                                           abandonment_rate=0.0, aht_s=60.0, rating_coverage=0.0),
                     id="completed, no wrap-up yet: ends at complete"),
        pytest.param(one(*COMPLETED, (WRAP_END, "X", 70, {"aid": "a2"})),
                     Kpis(tickets=1, served=1, completed=1, answered_within_t=1, handled=1,
                          asa_s=4.0, service_level=1.0, abandonment_rate=0.0, aht_s=60.0,
                          rating_coverage=0.0),
                     id="someone else's wrap-up is ignored"),
        pytest.param(one(*COMPLETED, (WRAP_END, "X", 70, {"aid": "a1"}),
                         (WRAP_END, "X", 90, {"aid": "a1"})),
                     Kpis(tickets=1, served=1, completed=1, answered_within_t=1, handled=1,
                          asa_s=4.0, service_level=1.0, abandonment_rate=0.0, aht_s=66.0,
                          rating_coverage=0.0),
                     id="own wrap-up ends handling, first one wins"),
        pytest.param(one(*COMPLETED, ("rate", "X", 70, {"level": "9"})),
                     Kpis(tickets=1, served=1, completed=1, answered_within_t=1, handled=1,
                          asa_s=4.0, service_level=1.0, abandonment_rate=0.0, aht_s=60.0,
                          rating_coverage=0.0),
                     id="a level off the scale is no rating"),
        pytest.param(one(*ANSWERED, ("media_lost", "X", 10, {"party": "agent"}),
                         ("requeue", "X", 40, {"agent": "a1"}), ("leave", "X", 50, {})),
                     Kpis(tickets=1, served=1, answered_within_t=1, handled=1, asa_s=4.0,
                          service_level=1.0, abandonment_rate=0.0, aht_s=46.0),
                     id="leaving after a requeue is no abandon"),
        pytest.param(one(("enqueue", "X", 0, {}), ("offer", "X", 1, E), ("no_show", "X", 30, E)),
                     Kpis(tickets=1, no_show=1, abandonment_rate=0.0),
                     id="no-show before an answer: outside the service level"),
        pytest.param(one(*ANSWERED)[1:], Kpis(), id="a session without its enqueue is ignored"),
        pytest.param(one(*ANSWERED) + one(("enqueue", "X", 9, {})),
                     Kpis(tickets=1, served=1, answered_within_t=1, asa_s=4.0, service_level=1.0,
                          abandonment_rate=0.0), id="a repeated enqueue is ignored"),
    ],
)
def test_edge_cases(events: list[Event], want: Kpis) -> None:
    got = compute_kpis(events, t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S)
    assert got == want
    acc = KpiAccumulator(t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S)
    acc.extend(events)
    assert acc.snapshot() == want


def test_empty_log_has_no_groups_and_no_occupancy() -> None:
    assert kpis_by([], GroupKey.PAIR, t_answer_s=20, s_short_s=5) == {}
    assert KpiAccumulator(t_answer_s=20, s_short_s=5).snapshot_by(GroupKey.SERVING) == {}
    assert occupancy([], T0, at(1000)) == Occupancy(agents={}, centres={}, chain=None)


def test_a_late_wrap_up_moves_aht_live() -> None:
    acc = KpiAccumulator(t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S)
    acc.extend(one(*COMPLETED))
    assert acc.snapshot().aht_s == 60.0
    acc.extend(one(*COMPLETED, (WRAP_END, "X", 94, {"aid": "a1"}))[-1:])
    assert acc.snapshot().aht_s == 90.0


def test_first_answer_moves_a_session_to_its_serving_centre_live() -> None:
    acc = KpiAccumulator(t_answer_s=T_ANSWER_S, s_short_s=S_SHORT_S)
    events = one(*ANSWERED)
    acc.extend(events[:2])
    assert acc.snapshot_by(GroupKey.SERVING).keys() == {""}
    acc.add(events[2])
    assert acc.snapshot_by(GroupKey.SERVING).keys() == {QP}
    assert acc.snapshot_by(GroupKey.PAIR).keys() == {pair_key(HP, QP)}


# ---------------------------------------------------------------------------------- occupancy


def staff_day() -> list[Event]:
    log = Log()
    log.presence("a1", -100, "offline", "away")  # before the window: sets the state only
    log.presence("a1", 100, "away", "available")
    log.presence("a1", 200, "available", "offered", "S1").presence("a1", 210, "offered", "in_service")
    log.presence("a1", 500, "in_service", "wrap_up").presence("a1", 530, "wrap_up", "available")
    log.presence("a1", 800, "available", "away")
    # a2's first event says it was available before: counted from the window's start.
    log.presence("a2", 300, "available", "in_service", "S2")
    log.presence("a2", 1200, "in_service", "wrap_up")  # after the window: clipped at 1000
    log.presence("a3", 900, "away", "offline")  # never staffed: no figure at all
    log.events.append({"sid": "S2", "act": "note", "from": "in_service", "to": "in_service",
                       "ts": str(at(400))})
    return log.events


@pytest.mark.parametrize(
    ("what", "name", "want"),
    [
        ("agents", "a1", 330 / 700),  # busy 200..530, staffed 100..800
        ("agents", "a2", 700 / 1000),  # busy 300..1000, staffed 0..1000
        ("centres", QP, 1030 / 1700),  # time-weighted over a1 and a2, not a mean of ratios
    ],
)
def test_occupancy(what: str, name: str, want: float) -> None:
    occ = occupancy(staff_day(), T0, at(1000))
    assert getattr(occ, what)[name] == pytest.approx(want)


def test_occupancy_leaves_out_who_was_never_staffed() -> None:
    occ = occupancy(staff_day(), T0, at(1000))
    assert occ.agents.keys() == {"a1", "a2"}
    assert occ.centres.keys() == {QP}
    assert occ.chain == pytest.approx(1030 / 1700)


def test_occupancy_of_a_window_before_anything_happened() -> None:
    occ = occupancy(staff_day(), at(-500), at(-200))
    # a1 was offline then (its first event's ``from``); a2 was available but idle.
    assert occ.agents == {"a2": 0.0}


# ------------------------------------------------------------------ live == batch, generated

AGENTS = sorted(AGENT_CENTRE)


#: The way forward from each state, taken most of the time so that logs get somewhere.
FORWARD = {State.WAITING: Action.OFFER, State.OFFERED: Action.ACCEPT,
           State.IN_SERVICE: Action.COMPLETE, State.TRANSFERRING: Action.TRANSFER_ACCEPT,
           State.RECONNECTING: Action.MEDIA_BACK, State.COMPLETED: Action.RATE}


def legal(state: State) -> list[Action]:
    return [a for (s, a) in TRANSITIONS if s is state]


@st.composite
def event_logs(draw: st.DrawFn) -> list[Event]:
    """Draw a plausible log: legal session transitions, presence, wrap-ups, notes."""
    steps = draw(st.lists(
        st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 40_000),
                  st.sampled_from(AGENTS), st.sampled_from("12345x")),
        min_size=20, max_size=150,
    ))
    log, now, sids = Log(), 0.0, list[str]()
    holder: dict[str, str] = {}
    presence = dict.fromkeys(AGENTS, "offline")
    for pick, choice, dt_ms, aid, level in steps:
        now += dt_ms / 1000
        kind = choice % 12
        if kind == 0 or not sids:
            sid = f"S{len(sids)}"
            sids.append(sid)
            log.enqueue(sid, now, (HP, WJ)[choice % 2], ("m-biz", "m-social")[pick % 2])
            continue
        # Mostly sessions still going, sometimes any (a late wrap-up, a stray event).
        going = [s for s in sids if log.state[s] not in FINAL_STATES]
        sid = (going or sids)[pick % len(going or sids)] if pick < 80 else sids[pick % len(sids)]
        if kind == 1:
            new = ("available", "offered", "in_service", "wrap_up", "away", "offline")[choice % 6]
            if new != presence[aid]:
                log.presence(aid, now, presence[aid], new, sid)
                presence[aid] = new
            continue
        if kind in (2, 3):
            log.wrap_end(holder.get(sid, aid) if kind == 2 else aid, sid, now)
            continue
        if kind == 4:
            log.s("note", sid, now)
            continue
        state = log.state[sid]
        assert state is not None
        actions = legal(state)
        if not actions:
            continue
        act = FORWARD[state] if state in FORWARD and pick % 3 else actions[choice % len(actions)]
        extra: dict[str, str] = {}
        if act in (Action.OFFER, Action.DECLINE, Action.OFFER_TIMEOUT, Action.OFFER_LOST,
                   Action.NO_SHOW):
            extra["agent"] = aid
        elif act in (Action.ACCEPT, Action.TRANSFER_ACCEPT):
            holder[sid] = extra["agent"] = aid
        elif act in (Action.COMPLETE, Action.INTERRUPT, Action.TRANSFER_DECLINE,
                     Action.TRANSFER_TIMEOUT):
            extra["agent"] = holder.get(sid, "")
        elif act == Action.REQUEUE:
            holder.pop(sid, None)
        elif act == Action.RATE:
            extra["level"] = level
        log.s(act, sid, now, **extra)
    return log.events


windows: st.SearchStrategy[dict[str, int]] = st.one_of(
    st.just({}),
    st.tuples(st.integers(-10, 400), st.integers(0, 600)).map(
        lambda w: {"start_ms": at(w[0]), "end_ms": at(w[0] + w[1])}),
)


def check_bounds(k: Kpis) -> None:
    for rate in (k.service_level, k.abandonment_rate, k.satisfaction, k.rating_coverage):
        assert rate is None or 0 <= rate <= 1
    for mean in (k.asa_s, k.aht_s):
        assert mean is None or mean >= 0
    assert k.served + k.abandoned <= k.tickets
    assert k.short_abandons <= k.abandoned and k.answered_within_t <= k.served
    assert k.ratings == sum(k.rating_levels) == k.satisfied + k.bad_reviews <= k.completed
    assert k.transfers_accepted + k.transfers_declined + k.transfers_timed_out <= k.transfers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_logs(), window=windows, t=st.sampled_from([0, 10, 20]),
       s=st.sampled_from([0, 5]))
def test_live_equals_batch_on_generated_logs(
    events: list[Event], window: dict[str, int], t: int, s: int
) -> None:
    acc = KpiAccumulator(t_answer_s=t, s_short_s=s, **window)
    for n, event in enumerate(events, 1):
        acc.add(event)
        if n % 7 and n != len(events):
            continue  # checking every prefix is quadratic; every seventh and the last suffice
        prefix = events[:n]
        batch = compute_kpis(prefix, t_answer_s=t, s_short_s=s, **window)
        assert acc.snapshot() == batch
        check_bounds(batch)
        for key in GroupKey:
            groups = kpis_by(prefix, key, t_answer_s=t, s_short_s=s, **window)
            assert acc.snapshot_by(key) == groups
            assert sum(g.tickets for g in groups.values()) == batch.tickets
            for g in groups.values():
                check_bounds(g)


@given(events=event_logs(), span=st.tuples(st.integers(-10, 300), st.integers(0, 900)))
@settings(max_examples=100, deadline=None)
def test_occupancy_stays_a_share(events: list[Event], span: tuple[int, int]) -> None:
    occ = occupancy(events, at(span[0]), at(span[0] + span[1]))
    for share in [*occ.agents.values(), *occ.centres.values()]:
        assert 0 <= share <= 1
    assert occ.chain is None or 0 <= occ.chain <= 1
