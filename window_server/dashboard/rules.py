"""The dashboard's pure rules: what one session adds to which counter, deadlines, masking.

Nothing here does I/O or reads a clock. A session's facts are refolded from its own events
with ``window_server.domain.metrics`` (the very functions ``compute_kpis`` uses), and turned
into *cells*: ``(day, scope, dim, group, count) -> int``. The aggregator stores the difference
between a session's cells before and after each change, so the stored sums always equal the
cells of the current facts of every session — and therefore ``compute_kpis`` over the log.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from window_server.domain.errors import Conflict, InvalidInput
from window_server.domain.metrics import (
    PAIR_SEP,
    TALLY_FIELDS,
    Event,
    SessionFacts,
    Tally,
    fold_session,
    pair_key,
    session_tally,
    start_session,
)
from window_server.domain.privacy import mask_id_number
from window_server.domain.session import Action

#: The scope of the whole chain; every other scope is a centre id.
CHAIN = "chain"
#: Counts kept besides the metrics module's tally.
EXTRA_COUNTS = ("over_wait", "over_handle")
COUNTS = (*TALLY_FIELDS, *EXTRA_COUNTS)
#: Stored vectors hold COUNTS by position; the layout's digest is part of the key names, so
#: counts written under another layout are never misread (docs/dashboard.md: rebuilding).
LAYOUT = hashlib.sha1(",".join(COUNTS).encode()).hexdigest()[:8]
BUCKET_MINUTES = 15
#: Bucket label of a waiting session that stopped waiting after its enqueue day ended.
AFTER_DAY = "2400"
#: Longest date range one request may ask for.
MAX_RANGE_DAYS = 366
RECORD_VERSION = 1

_ACTIONS = frozenset(a.value for a in Action)
_COMPLETIONS = frozenset({Action.COMPLETE.value, Action.HANG_UP.value})
_WRAP_END = "wrap_end"


class Dim(StrEnum):
    """The views the aggregates are kept in, per day and scope."""

    TOTAL = "total"  # one group, ""
    MATTER = "matter"
    PAIR = "pair"  # intake → serving ("<intake>→" while unanswered)
    QUARTER = "q"  # 15-minute bucket of the enqueue, "HHMM" (the service-level chart)
    WAITING = "wq"  # counts "in" at the enqueue's bucket and "out" when waiting stopped
    AGENT = "ag"  # the specialist holding the session (at its end: who finished it); chain scope only
    FLOW = "fl"  # answered sessions: "<intake>→<serving>→<home region>" (the N5 flow chart); chain scope only


_TOTAL, _MATTER, _PAIR, _QUARTER, _WAITING, _AGENT, _FLOW = (d.value for d in Dim)

#: Views a KPI request may group by. The intake and serving views are the pair view's groups
#: added up by their intake or serving side: counts add, so the KPIs stay exact.
KPI_GROUPS = ("total", "intake", "serving", "matter", "pair")

Cell = tuple[str, str, str, str]  # day, scope, dim, group
Vector = tuple[int, ...]  # counts in COUNTS order (the wq view: in, out)


@dataclass(frozen=True)
class FoldConfig:
    """The thresholds a session's counts depend on (settings at the time of the fold)."""

    t_answer_s: float
    s_short_s: float
    wait_alarm_s: float
    handle_alarm_s: float

    def as_list(self) -> list[float]:
        return [self.t_answer_s, self.s_short_s, self.wait_alarm_s, self.handle_alarm_s]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> FoldConfig:
        return cls(*(float(v) for v in values))


# ----------------------------------------------------------------------------- stream ids


def id_key(entry_id: str) -> tuple[int, int]:
    """Sort key of a stream entry id ``"<ms>-<seq>"``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def max_id(ids: Iterable[str]) -> str:
    """Return the greatest stream id ("" for none)."""
    best = ""
    for i in ids:
        if not best or id_key(i) > id_key(best):
            best = i
    return best


# ------------------------------------------------------------------------------ sessions


@dataclass
class SessionView:
    """What the dashboard knows of one session: the metrics facts and a little more."""

    facts: SessionFacts
    state: str = ""
    rated_at: int | None = None
    #: The centre of the specialist who completed the session (complete, or the citizen's hang-up
    #: while they held it); "" until then. A transfer across centres makes it differ from
    #: ``facts.serving`` (who answered first).
    closer: str = ""
    #: The home region the citizen asked for (from the enqueue).
    region: str = ""


def derive(events: Iterable[tuple[str, Event]]) -> SessionView | None:
    """Refold a session from its events (any order; sorted by id here); None before its enqueue."""
    view: SessionView | None = None
    for _id, ev in sorted(events, key=lambda e: id_key(e[0])):
        act = ev.get("act", "")
        if view is None:
            if act == Action.ENQUEUE:
                view = SessionView(start_session(ev), state=ev.get("to", "waiting"), region=ev.get("region", ""))
            continue
        if act == Action.ENQUEUE:
            continue  # a repeated enqueue changes nothing (as in compute_kpis)
        rated = view.facts.level
        ended = view.facts.end is not None
        fold_session(view.facts, ev)
        if not ended and view.facts.end is not None and act in _COMPLETIONS:
            view.closer = ev.get("agent_centre") or view.facts.serving
        if view.facts.level and not rated:
            view.rated_at = int(ev["ts"])
        if act in _ACTIONS and ev.get("to"):
            view.state = ev["to"]
    return view


@dataclass
class Record:
    """A session's stored fold: its facts as last counted, and the wrap-ups seen for it.

    ``wrap_end`` events are not in the session's own stream, so the ones seen are kept here to
    refold the session in log order whatever order the consumers received them in.
    """

    view: SessionView | None
    cfg: FoldConfig
    last: str = ""
    wraps: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def dump(self) -> str:
        v = self.view
        return json.dumps(
            {
                "v": RECORD_VERSION,
                "last": self.last,
                "wraps": [[i, e] for i, e in self.wraps],
                "cfg": self.cfg.as_list(),
                "f": asdict(v.facts) if v else None,
                "state": v.state if v else "",
                "rated_at": v.rated_at if v else None,
                "closer": v.closer if v else "",
                "region": v.region if v else "",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str) -> Record:
        d = json.loads(text)
        view = None
        if d.get("f") is not None:
            view = SessionView(SessionFacts(**d["f"]), d.get("state", ""), d.get("rated_at"), d.get("closer", ""),
                               d.get("region", ""))
        wraps = [(str(i), {str(k): str(v) for k, v in e.items()}) for i, e in d.get("wraps", [])]
        return cls(view, FoldConfig.from_list(d["cfg"]), str(d.get("last", "")), wraps)


def is_wrap_end(event: Event) -> bool:
    return event.get("act") == _WRAP_END


# ------------------------------------------------------------------------------- the cells


def local_day(ms: int, tz: ZoneInfo) -> str:
    """Return the local date of an epoch-ms time as ``YYYYMMDD``."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y%m%d")


def bucket(ms: int, tz: ZoneInfo) -> str:
    """Return the local 15-minute bucket of an epoch-ms time as ``HHMM``."""
    t = datetime.fromtimestamp(ms / 1000, tz)
    return f"{t.hour:02d}{t.minute - t.minute % BUCKET_MINUTES:02d}"


def scopes(facts: SessionFacts, closer: str = "") -> tuple[str, ...]:
    """The scopes a session counts in: the chain, its intake centre, its serving centre (who answered
    first) and the centre that completed it (when a transfer took it to another centre)."""
    out = [CHAIN]
    for s in (facts.intake, facts.serving, closer):  # a plain loop: the bulk path calls this a lot
        if s and s not in out:
            out.append(s)
    return tuple(out)


def view_scopes(view: SessionView | None) -> tuple[str, ...]:
    """``scopes`` of a session view (none for no view)."""
    return scopes(view.facts, view.closer) if view else ()


def counts(view: SessionView, cfg: FoldConfig) -> Vector:
    """Return the session's counts in ``COUNTS`` order: the metrics tally plus the threshold counts."""
    f = view.facts
    tally = session_tally(f, t_answer_s=cfg.t_answer_s, s_short_s=cfg.s_short_s)
    if f.answered is not None:
        wait: int | None = f.answered - f.enq
    elif tally.abandoned and f.end is not None:
        wait = f.end - f.enq
    else:
        wait = None
    over_wait = int(wait is not None and wait > cfg.wait_alarm_s * 1000)
    over_handle = int(tally.handled == 1 and tally.handle_ms > cfg.handle_alarm_s * 1000)
    return (*(getattr(tally, name) for name in TALLY_FIELDS), over_wait, over_handle)


def cells(view: SessionView | None, cfg: FoldConfig, tz: ZoneInfo) -> dict[Cell, Vector]:
    """Return everything one session adds to the aggregates: a vector per (day, scope, dim, group).

    The ``wq`` view's vectors are ``(in, out)``; every other view's are ``COUNTS``.
    """
    if view is None:
        return {}
    f = view.facts
    day = local_day(f.enq, tz)
    mine = counts(view, cfg)
    groups = ((_TOTAL, ""), (_MATTER, f.matter), (_PAIR, pair_key(f.intake, f.serving)), (_QUARTER, bucket(f.enq, tz)))
    # Waiting runs from the enqueue to the first answer, or to an ending before any answer.
    stop = f.answered if f.answered is not None else f.end
    came = bucket(f.enq, tz)
    went = None if stop is None else bucket(stop, tz) if local_day(stop, tz) == day else AFTER_DAY
    moves: dict[str, Vector] = {came: (1, 0)}
    if went is not None:
        moves[went] = (1, 1) if went == came else (0, 1)
    out: dict[Cell, Vector] = {}
    for scope in scopes(f, view.closer):
        for dim, group in groups:
            out[(day, scope, dim, group)] = mine
        for group, v in moves.items():
            out[(day, scope, _WAITING, group)] = v
    # Chain-wide only (a centre's share is read from the chain's, filtered): per specialist (today's
    # handled count on the specialists panel), and answered sessions per intake, serving centre and
    # home region (the flow chart).
    if f.agent:
        out[(day, CHAIN, _AGENT, f.agent)] = mine
    if f.serving:
        out[(day, CHAIN, _FLOW, f"{pair_key(f.intake, f.serving)}{PAIR_SEP}{view.region}")] = mine
    return out


def add(a: Vector, b: Vector, sign: int = 1) -> Vector:
    """Element-wise a + sign·b (the shorter is padded with zeros)."""
    if sign == 1 and len(a) == len(b):
        return tuple(map(operator.add, a, b))  # the bulk path's case: keep it fast
    if len(a) < len(b):
        a = (*a, *(0,) * (len(b) - len(a)))
    elif len(b) < len(a):
        b = (*b, *(0,) * (len(a) - len(b)))
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))


def diff(before: Mapping[Cell, Vector], after: Mapping[Cell, Vector]) -> dict[Cell, Vector]:
    """Return after − before per cell, leaving out cells that did not change."""
    out = {c: add(v, before[c], -1) if c in before else v for c, v in after.items()}
    for c, v in before.items():
        if c not in after:
            out[c] = tuple(-x for x in v)
    return {c: v for c, v in out.items() if any(v)}


def encode(v: Vector) -> str:
    """A stored vector: comma-separated integers, trailing zeros left out."""
    n = len(v)
    while n and not v[n - 1]:
        n -= 1
    return ",".join(str(x) for x in v[:n])


def decode(text: str) -> Vector:
    return tuple(int(x) for x in text.split(",")) if text else ()


def by_group(hashes: Iterable[Mapping[str, str]], names: Sequence[str] = COUNTS) -> dict[str, dict[str, int]]:
    """Add up stored hashes (one per day) into named counts per group."""
    sums: dict[str, Vector] = {}
    for h in hashes:
        for group, text in h.items():
            v = decode(text)
            sums[group] = add(sums[group], v) if group in sums else v
    return {g: {n: x for n, x in zip(names, v, strict=False) if x} for g, v in sums.items()}


WAITING_NAMES = ("in", "out")


def regroup(pairs: Mapping[str, Mapping[str, int]], side: str) -> dict[str, dict[str, int]]:
    """Add up the pair view's counts by their intake (``side="intake"``) or serving side."""
    out: dict[str, dict[str, int]] = {}
    for pair, c in pairs.items():
        intake, _, serving = pair.partition(PAIR_SEP)
        g = out.setdefault(intake if side == "intake" else serving, {})
        for name, v in c.items():
            g[name] = g.get(name, 0) + v
    return out


def kpis(counts_: Mapping[str, int]) -> dict[str, Any]:
    """Return the KPIs of summed counts (the metrics module's ratios) plus the threshold counts."""
    tally = Tally(**{k: int(counts_.get(k, 0)) for k in TALLY_FIELDS})
    out = asdict(tally.kpis())
    out["rating_levels"] = list(out["rating_levels"])
    for name in EXTRA_COUNTS:
        out[name] = int(counts_.get(name, 0))
    return out


# ------------------------------------------------------------------------------ dates


def parse_day(text: str, field: str) -> date:
    """Parse ``YYYY-MM-DD``; raise InvalidInput naming the field."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD", field=field) from None


def day_range(start: date, end: date) -> list[str]:
    """Return the days from ``start`` to ``end`` inclusive as ``YYYYMMDD``; at most a year."""
    if end < start:
        raise InvalidInput("to is before from", field="to")
    n = (end - start).days + 1
    if n > MAX_RANGE_DAYS:
        raise InvalidInput(f"ask for at most {MAX_RANGE_DAYS} days at a time", field="to")
    return [(start + timedelta(days=i)).strftime("%Y%m%d") for i in range(n)]


def day_bounds_ms(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """Return [start, end) of a local day in epoch ms (what compute_kpis takes as a window)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def buckets() -> list[str]:
    """Every bucket label of a day, in order."""
    return [f"{m // 60:02d}{m % 60:02d}" for m in range(0, 24 * 60, BUCKET_MINUTES)]


# -------------------------------------------------------------------------- bad reviews

#: Follow-up steps of a bad review (差评), in the order they must happen.
STEPS = ("called_back", "rectified", "replied")
_STEP_KEYS = {"called_back": "call_back_days", "rectified": "rectify_days", "replied": "reply_days"}
BAD_LEVELS = (1, 2)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Deadlines:
    """Days after the rating by which each follow-up step is due."""

    call_back_days: float = 1
    rectify_days: float = 15
    reply_days: float = 15

    def dues(self, rated_at: int) -> dict[str, int]:
        """Return the due time (epoch ms) of each step."""
        return {s: rated_at + int(getattr(self, _STEP_KEYS[s]) * DAY_MS) for s in STEPS}


@dataclass(frozen=True)
class ReviewPolicy:
    """Follow-up deadlines per province (GB/T 2260 province code), with a default."""

    default: Deadlines = Deadlines()
    provinces: Mapping[str, Deadlines] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def deadlines(self, province: str) -> Deadlines:
        return self.provinces.get(province, self.default)


def _deadlines(table: Any, where: str, base: Deadlines) -> Deadlines:
    if not isinstance(table, dict):
        raise InvalidInput(f"{where} must be a table")
    unknown = set(table) - {*_STEP_KEYS.values(), "name"}
    if unknown:
        raise InvalidInput(f"{where}: unknown key {sorted(unknown)[0]!r}; use call_back_days, "
                           "rectify_days, reply_days")
    values: dict[str, float] = {}
    for key in _STEP_KEYS.values():
        v = table.get(key, getattr(base, key))
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 365:
            raise InvalidInput(f"{where}.{key} must be a number of days from 0 to 365, got {v!r}")
        values[key] = float(v)
    if not values["call_back_days"] <= values["rectify_days"] <= values["reply_days"]:
        raise InvalidInput(f"{where}: call back, then rectify, then reply: their days must not decrease")
    return Deadlines(**values)


def parse_review_policy(doc: Mapping[str, Any], source: str) -> ReviewPolicy:
    """Build the policy from a parsed TOML document; errors name the file and the table."""
    unknown = set(doc) - {"default", "provinces"}
    if unknown:
        raise InvalidInput(f"{source}: unknown table {sorted(unknown)[0]!r}; use [default] and [provinces.\"<code>\"]")
    default = _deadlines(doc.get("default", {}), f"{source} [default]", Deadlines())
    provinces: dict[str, Deadlines] = {}
    names: dict[str, str] = {}
    raw = doc.get("provinces", {})
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: provinces must be a table")
    for code, table in raw.items():
        if not re.fullmatch(r"\d{2}0000", code):
            raise InvalidInput(f"{source} [provinces.{code}]: a province is a 6-digit code ending in 0000")
        provinces[code] = _deadlines(table, f"{source} [provinces.\"{code}\"]", default)
        if isinstance(table.get("name"), str):
            names[code] = table["name"]
    return ReviewPolicy(default, provinces, names)


def review_centre(view: SessionView) -> str:
    """The centre a bad review is attributed to: the one whose specialist completed the session (the
    service the citizen rated), else the one that answered first, else the intake hall."""
    return view.closer or view.facts.serving or view.facts.intake


def review_scopes(review: Mapping[str, str]) -> list[str]:
    """The scopes whose follow-up lists hold a bad review: the chain, the intake hall, the attributed centre."""
    return [s for s in dict.fromkeys([CHAIN, review.get("intake", ""), review.get("serving", "")]) if s]


def review_fields(view: SessionView, province: str, agent: str, policy: ReviewPolicy) -> dict[str, str]:
    """The stored fields of a new bad review (its deadlines fixed when it is created).

    ``serving`` is the attributed centre (``review_centre``); ``answered_by`` the centre that
    answered first, kept for the record."""
    f = view.facts
    rated_at = view.rated_at or f.enq
    out = {
        "sid": "", "level": str(f.level), "rated_at": str(rated_at), "intake": f.intake,
        "serving": review_centre(view), "answered_by": f.serving, "matter": f.matter, "province": province,
        "agent": agent,
    }
    for step, due in policy.deadlines(province).dues(rated_at).items():
        out[f"due_{step}"] = str(due)
    return out


def next_due(review: Mapping[str, str]) -> int | None:
    """The earliest deadline of a step not done yet; None once every step is done."""
    pending = [int(review[f"due_{s}"]) for s in STEPS if not review.get(f"done_{s}")]
    return min(pending) if pending else None


#: Longest follow-up note (characters).
MAX_NOTE = 500


def check_step(review: Mapping[str, str], step: str, note: str) -> None:
    """Raise unless ``step`` may be recorded now: each step once, in order, with a note of what was done."""
    if step not in STEPS:
        raise InvalidInput(f"action must be one of {', '.join(STEPS)}", field="action")
    if review.get(f"done_{step}"):
        raise Conflict(f"{step.replace('_', ' ')} is recorded already", code="already_recorded", field="action")
    i = STEPS.index(step)
    if i and not review.get(f"done_{STEPS[i - 1]}"):
        raise Conflict(f"record {STEPS[i - 1].replace('_', ' ')} first", code="out_of_order", field="action")
    if not note.strip():
        raise InvalidInput(f"say what was done for {step.replace('_', ' ')}", code="note_required", field="note")


def review_status(review: Mapping[str, str], now_ms: int) -> dict[str, Any]:
    """Each step's deadline and whether it is done or overdue, and the review's status."""
    steps = {}
    overdue = False
    for s in STEPS:
        due = int(review[f"due_{s}"])
        done = review.get(f"done_{s}") or ""
        late = not done and now_ms > due
        overdue = overdue or late
        steps[s] = {"due": due, "done_at": int(done) if done else None, "by": review.get(f"by_{s}") or None,
                    "note": review.get(f"note_{s}") or None, "overdue": late, "late": bool(done) and int(done) > due}
    status = "closed" if next_due(review) is None else "overdue" if overdue else "open"
    return {"status": status, "steps": steps}


# --------------------------------------------------------------------------- personal data

# An 18-character resident ID may end in X; any other run of 6 or more digits is masked too.
_DIGITS = re.compile(r"\d{17}[\dXx]|\d{6,}")


def _mask(run: str) -> str:
    n = len(run)
    if n >= 15:
        return mask_id_number(run)  # the one shape of an ID number, whatever its check character
    head, tail = (3, 4) if n >= 11 else (1, 2)
    return run[:head] + "*" * (n - head - tail) + run[-tail:]


def mask_digits(text: str) -> str:
    """Mask runs of 6+ digits: ``330106199001011234`` → ``330106********1234``."""
    return _DIGITS.sub(lambda m: _mask(m.group(0)), text)


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# ------------------------------------------------------------------------- targets (issue 19)

#: KPI -> (the setting holding its target, whether higher is better).
TARGETS = {
    "service_level": ("target_service_level", True),
    "asa_s": ("target_asa_seconds", False),
    "abandonment_rate": ("target_abandonment_rate", False),
    "aht_s": ("target_aht_seconds", False),
    "satisfaction": ("target_satisfaction", True),
    "rating_coverage": ("target_rating_coverage", True),
}


def target_status(value: float | None, target: float, higher_is_better: bool, margin: float) -> str:
    """``green`` on the right side of the target, ``amber`` within ``margin`` (a share of the target)
    of it, ``red`` further off; ``none`` without a value."""
    if value is None:
        return "none"
    slack = abs(target) * margin
    if higher_is_better:
        return "green" if value >= target else "amber" if value >= target - slack else "red"
    return "green" if value <= target else "amber" if value <= target + slack else "red"


def against_targets(k: Mapping[str, Any], targets: Mapping[str, float], margin: float) -> dict[str, Any]:
    """Each targeted KPI's value, target, which way is better and its status."""
    out = {}
    for name, (_setting, higher) in TARGETS.items():
        value = k.get(name)
        out[name] = {"value": value, "target": targets[name], "higher_is_better": higher,
                     "status": target_status(value, targets[name], higher, margin)}
    return out
