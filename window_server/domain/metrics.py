"""Contact-centre KPIs over the event log: pure batch functions and a live accumulator.

The definitions, in words and formulas, are in ``docs/metrics.md``. The rules in short:

* a session belongs to a window by the ``ts`` of its ``enqueue`` (``start_ms <= ts < end_ms``,
  either bound may be open); everything logged about it later counts towards that window, even
  after ``end_ms`` (a cohort view; pass a truncated log for an "as of" view);
* sessions whose ``enqueue`` is not in the log are ignored;
* times are integer epoch milliseconds taken from the events; nothing here reads a clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from window_server.domain.presence import Presence
from window_server.domain.session import Action

#: One entry of the event log as read from the stream: every value is a string.
Event = Mapping[str, str]

#: Specialist events that are not session transitions.
PRESENCE = "presence"
WRAP_END = "wrap_end"

#: Separator of the pair view's keys: ``"<intake centre>→<serving centre>"``.
PAIR_SEP = "→"

#: Presence counted as busy / as staffed by ``occupancy``.
BUSY_PRESENCE = frozenset({Presence.OFFERED, Presence.IN_SERVICE, Presence.WRAP_UP})
STAFFED_PRESENCE = BUSY_PRESENCE | {Presence.AVAILABLE}

#: Actions that end a session for its specialist (a rating may still follow ``complete``).
_ENDINGS = frozenset({Action.COMPLETE, Action.HANG_UP, Action.LEAVE, Action.NO_SHOW, Action.INTERRUPT})
#: Endings that leave the session completed (and ratable): the specialist's, or the citizen's hang-up.
_COMPLETIONS = frozenset({Action.COMPLETE, Action.HANG_UP})
_LEVELS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}


class GroupKey(StrEnum):
    INTAKE = "intake"  # the hall where the citizen sits
    SERVING = "serving"  # the centre of the specialist who answered first; "" while unanswered
    MATTER = "matter"
    PAIR = "pair"  # intake centre → serving centre


@dataclass(frozen=True)
class Kpis:
    """KPIs of the sessions of one window (and group); rates are None when undefined."""

    tickets: int = 0
    served: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    no_show: int = 0
    completed: int = 0
    interrupted: int = 0
    answered_within_t: int = 0
    handled: int = 0
    transfers: int = 0
    transfers_accepted: int = 0
    transfers_declined: int = 0
    transfers_timed_out: int = 0
    ratings: int = 0
    satisfied: int = 0
    bad_reviews: int = 0
    #: Ratings per level, levels 1..5 in that order.
    rating_levels: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    asa_s: float | None = None
    service_level: float | None = None
    abandonment_rate: float | None = None
    aht_s: float | None = None
    satisfaction: float | None = None
    rating_coverage: float | None = None


@dataclass(frozen=True)
class Occupancy:
    """Busy time over staffed time per specialist, per centre and for the chain."""

    agents: dict[str, float]
    centres: dict[str, float]
    chain: float | None


def pair_key(intake: str, serving: str) -> str:
    """Return the pair view's key of an intake centre and a serving centre."""
    return f"{intake}{PAIR_SEP}{serving}"


# ----------------------------------------------------------------------------- per session


@dataclass(slots=True)
class _Facts:
    """What the log has said so far about one session."""

    enq: int
    intake: str
    matter: str
    answered: int | None = None
    serving: str = ""
    agent: str = ""  # who holds it now: their wrap-up is the end of its handling
    end: int | None = None
    end_act: str = ""
    wrap: int | None = None
    level: int = 0
    transfers: int = 0
    transfers_accepted: int = 0
    transfers_declined: int = 0
    transfers_timed_out: int = 0

    def group(self, key: GroupKey) -> str:
        """Return the session's group under ``key``."""
        if key is GroupKey.INTAKE:
            return self.intake
        if key is GroupKey.MATTER:
            return self.matter
        if key is GroupKey.SERVING:
            return self.serving
        return pair_key(self.intake, self.serving)


def _ts(event: Event) -> int:
    return int(event["ts"])


def _start(event: Event, start_ms: int | None, end_ms: int | None) -> _Facts | None:
    """Return the facts of a new session if this enqueue falls in the window."""
    ts = _ts(event)
    if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts >= end_ms):
        return None
    return _Facts(enq=ts, intake=event.get("intake", ""), matter=event.get("matter", ""))


def _fold(f: _Facts, event: Event) -> None:
    """Apply one later event of the session to its facts."""
    act, ts = event.get("act", ""), _ts(event)
    if act == WRAP_END:
        # Only the wrap-up of whoever held the session at its end closes the handling; the
        # first specialist of an accepted transfer wraps up earlier and does not count.
        closing = f.end is not None and f.answered is not None and f.wrap is None
        if closing and f.agent and event.get("aid") == f.agent:
            f.wrap = ts
    elif act == Action.ACCEPT:
        if f.answered is None:
            f.answered, f.serving = ts, event.get("agent_centre", "")
        f.agent = event.get("agent", "")
    elif act == Action.TRANSFER:
        f.transfers += 1
    elif act == Action.TRANSFER_ACCEPT:
        f.transfers_accepted += 1
        f.agent = event.get("agent", f.agent)
    elif act in (Action.TRANSFER_DECLINE, Action.TRANSFER_TIMEOUT):
        if act == Action.TRANSFER_DECLINE:
            f.transfers_declined += 1
        else:
            f.transfers_timed_out += 1
        f.agent = event.get("agent") or f.agent
    elif act == Action.REQUEUE:
        f.agent = ""
    elif act in _ENDINGS:
        if f.end is None:
            f.end, f.end_act = ts, act
            f.agent = event.get("agent") or f.agent
    elif act == Action.RATE and f.end_act in _COMPLETIONS and not f.level:
        # One rating per session (一次一评), and only of a completed one.
        f.level = _LEVELS.get(event.get("level", ""), 0)


# ---------------------------------------------------------------------------------- tallies


@dataclass(slots=True)
class _Tally:
    """Additive counts and integer sums: KPIs are ratios computed from these at the end."""

    tickets: int = 0
    served: int = 0
    wait_ms: int = 0
    answered_within_t: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    no_show: int = 0
    completed: int = 0
    interrupted: int = 0
    handled: int = 0
    handle_ms: int = 0
    transfers: int = 0
    transfers_accepted: int = 0
    transfers_declined: int = 0
    transfers_timed_out: int = 0
    level_1: int = 0
    level_2: int = 0
    level_3: int = 0
    level_4: int = 0
    level_5: int = 0

    def add(self, other: _Tally, sign: int = 1) -> None:
        """Add (or with ``sign=-1`` take away) another tally."""
        for name in _TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))

    def kpis(self) -> Kpis:
        """Return the KPIs these counts give."""
        levels = (self.level_1, self.level_2, self.level_3, self.level_4, self.level_5)
        ratings = sum(levels)
        satisfied = self.level_3 + self.level_4 + self.level_5
        # Short abandons are taken out of the service level's base: they left before anyone
        # could reasonably have answered.
        base = self.served + self.abandoned - self.short_abandons
        return Kpis(
            tickets=self.tickets,
            served=self.served,
            abandoned=self.abandoned,
            short_abandons=self.short_abandons,
            no_show=self.no_show,
            completed=self.completed,
            interrupted=self.interrupted,
            answered_within_t=self.answered_within_t,
            handled=self.handled,
            transfers=self.transfers,
            transfers_accepted=self.transfers_accepted,
            transfers_declined=self.transfers_declined,
            transfers_timed_out=self.transfers_timed_out,
            ratings=ratings,
            satisfied=satisfied,
            bad_reviews=self.level_1 + self.level_2,
            rating_levels=levels,
            asa_s=_ratio(self.wait_ms, self.served * 1000),
            service_level=_ratio(self.answered_within_t, base),
            abandonment_rate=_ratio(self.abandoned, self.tickets),
            aht_s=_ratio(self.handle_ms, self.handled * 1000),
            satisfaction=_ratio(satisfied, ratings),
            rating_coverage=_ratio(ratings, self.completed),
        )


_TALLY_FIELDS = tuple(f.name for f in fields(_Tally))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _tally(f: _Facts, t_ms: float, s_ms: float) -> _Tally:
    """Return one session's contribution to the totals."""
    t = _Tally(tickets=1)
    if f.answered is not None:
        wait = f.answered - f.enq
        t.served, t.wait_ms, t.answered_within_t = 1, wait, int(wait <= t_ms)
        if f.end is not None:
            t.handled, t.handle_ms = 1, (f.end if f.wrap is None else f.wrap) - f.answered
    elif f.end_act == Action.LEAVE and f.end is not None:
        # A leave after an answer (possible only after a requeue) is not an abandon.
        t.abandoned, t.short_abandons = 1, int(f.end - f.enq <= s_ms)
    t.no_show = int(f.end_act == Action.NO_SHOW)
    t.completed = int(f.end_act in _COMPLETIONS)
    t.interrupted = int(f.end_act == Action.INTERRUPT)
    t.transfers = f.transfers
    t.transfers_accepted = f.transfers_accepted
    t.transfers_declined = f.transfers_declined
    t.transfers_timed_out = f.transfers_timed_out
    if f.level:
        setattr(t, f"level_{f.level}", 1)
    return t


def _collect(events: Iterable[Event], start_ms: int | None, end_ms: int | None) -> list[_Facts]:
    """Fold the log into the facts of each session of the window, in enqueue order."""
    sessions: dict[str, _Facts | None] = {}  # None: enqueued outside the window
    for event in events:
        act, sid = event.get("act", ""), event.get("sid", "")
        if not sid or act == PRESENCE:
            continue
        if act == Action.ENQUEUE:
            if sid not in sessions:
                sessions[sid] = _start(event, start_ms, end_ms)
        elif (f := sessions.get(sid)) is not None:
            _fold(f, event)
    return [f for f in sessions.values() if f is not None]


# --------------------------------------------------------------------------------- the API


def compute_kpis(
    events: Iterable[Event],
    *,
    t_answer_s: float,
    s_short_s: float,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Kpis:
    """Return the KPIs of the sessions enqueued in [start_ms, end_ms)."""
    total = _Tally()
    for f in _collect(events, start_ms, end_ms):
        total.add(_tally(f, t_answer_s * 1000, s_short_s * 1000))
    return total.kpis()


def kpis_by(
    events: Iterable[Event],
    key: GroupKey,
    *,
    t_answer_s: float,
    s_short_s: float,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> dict[str, Kpis]:
    """Return the KPIs of the window's sessions per group under ``key``."""
    totals: dict[str, _Tally] = defaultdict(_Tally)
    for f in _collect(events, start_ms, end_ms):
        totals[f.group(key)].add(_tally(f, t_answer_s * 1000, s_short_s * 1000))
    return {group: tally.kpis() for group, tally in totals.items()}


class KpiAccumulator:
    """Live KPIs: feed events in log order; a snapshot equals ``compute_kpis`` over them."""

    def __init__(
        self,
        *,
        t_answer_s: float,
        s_short_s: float,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> None:
        self._t_ms = t_answer_s * 1000
        self._s_ms = s_short_s * 1000
        self._start_ms = start_ms
        self._end_ms = end_ms
        # Memory grows with the sessions of the window: start a new accumulator per day.
        self._sessions: dict[str, _Facts | None] = {}
        self._total = _Tally()
        self._groups: dict[GroupKey, dict[str, _Tally]] = {k: {} for k in GroupKey}

    def add(self, event: Event) -> None:
        """Take one event of the log into the totals."""
        act, sid = event.get("act", ""), event.get("sid", "")
        if not sid or act == PRESENCE:
            return
        if act == Action.ENQUEUE:
            if sid not in self._sessions:
                # None remembers a session outside the window: a repeated enqueue stays out.
                self._sessions[sid] = f = _start(event, self._start_ms, self._end_ms)
                if f is not None:
                    self._move(None, f)
            return
        f = self._sessions.get(sid)
        if f is None:
            return
        # Take the session's old contribution out and put the new one in: a late wrap-up or
        # a first answer (which moves the session to its serving centre) is then just a fold.
        before = (_tally(f, self._t_ms, self._s_ms), {k: f.group(k) for k in GroupKey})
        _fold(f, event)
        self._move(before, f)

    def extend(self, events: Iterable[Event]) -> None:
        """Take several events of the log, in order."""
        for event in events:
            self.add(event)

    def snapshot(self) -> Kpis:
        """Return the KPIs of the events added so far."""
        return self._total.kpis()

    def snapshot_by(self, key: GroupKey) -> dict[str, Kpis]:
        """Return the KPIs per group under ``key`` of the events added so far."""
        return {group: tally.kpis() for group, tally in self._groups[key].items()}

    def _move(self, before: tuple[_Tally, dict[GroupKey, str]] | None, f: _Facts) -> None:
        after = _tally(f, self._t_ms, self._s_ms)
        self._total.add(after)
        if before is not None:
            self._total.add(before[0], -1)
        for key, groups in self._groups.items():
            if before is not None:
                old = groups[before[1][key]]
                old.add(before[0], -1)
                if not old.tickets:
                    del groups[before[1][key]]
            groups.setdefault(f.group(key), _Tally()).add(after)


def occupancy(events: Iterable[Event], start_ms: int, end_ms: int) -> Occupancy:
    """Return busy / staffed time in [start_ms, end_ms] from the presence events."""
    busy: dict[str, int] = defaultdict(int)
    staffed: dict[str, int] = defaultdict(int)
    centre_busy: dict[str, int] = defaultdict(int)
    centre_staffed: dict[str, int] = defaultdict(int)
    # aid -> (presence, since, centre) of the interval in progress
    current: dict[str, tuple[str, int, str]] = {}

    def credit(aid: str, status: str, since: int, until: int, centre: str) -> None:
        span = min(until, end_ms) - max(since, start_ms)
        if span <= 0 or status not in STAFFED_PRESENCE:
            return
        staffed[aid] += span
        centre_staffed[centre] += span
        if status in BUSY_PRESENCE:
            busy[aid] += span
            centre_busy[centre] += span

    for event in events:
        if event.get("act") != PRESENCE:
            continue
        aid, ts, centre = event.get("aid", ""), _ts(event), event.get("centre", "")
        # Before a specialist's first event they were in its ``from`` presence.
        status, since, was_centre = current.get(aid, (event.get("from", ""), start_ms, centre))
        credit(aid, status, since, ts, was_centre)
        current[aid] = (event.get("to", ""), ts, centre)
    for aid, (status, since, centre) in current.items():
        credit(aid, status, since, end_ms, centre)

    return Occupancy(
        agents={a: busy[a] / s for a, s in staffed.items() if s},
        centres={c: centre_busy[c] / s for c, s in centre_staffed.items() if s},
        chain=_ratio(sum(busy.values()), sum(staffed.values())),
    )


# --- dashboards -------------------------------------------------------------------
# The dashboard keeps each session's facts in Redis and refolds them event by event with exactly
# the rules above, so its stored aggregates add up to ``compute_kpis`` over the same log.

SessionFacts = _Facts
Tally = _Tally
TALLY_FIELDS = _TALLY_FIELDS


def start_session(event: Event) -> SessionFacts:
    """Return the facts of a new session from its ``enqueue`` event (no window)."""
    f = _start(event, None, None)
    assert f is not None  # an open window takes every enqueue
    return f


def fold_session(facts: SessionFacts, event: Event) -> None:
    """Apply one later event of the session to its facts."""
    _fold(facts, event)


def session_tally(facts: SessionFacts, *, t_answer_s: float, s_short_s: float) -> Tally:
    """Return one session's additive contribution to the totals."""
    return _tally(facts, t_answer_s * 1000, s_short_s * 1000)
