"""What the dashboard reads: aggregates per day and scope, and the queue's live structures.

Every read is bounded by the chain (centres, queues, specialists, days asked for) and by what
is live now (sessions waiting, transfers in flight), never by how much history there is. The
exports are the exception by nature: they list the sessions of the range, read through a
per-day index, in chunks.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from window_server.dashboard.rules import (
    CHAIN,
    LAYOUT,
    STEPS,
    WAITING_NAMES,
    Dim,
    ReviewPolicy,
    bucket,
    buckets,
    by_group,
    check_step,
    day_bounds_ms,
    decode,
    id_key,
    kpis,
    local_day,
    mask_digits,
    regroup,
    review_scopes,
    review_status,
)
from window_server.dashboard.store import DashboardStore
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import Conflict, NotFound
from window_server.domain.metrics import PAIR_SEP, PRESENCE, TALLY_FIELDS, occupancy
from window_server.domain.routing import region_contains
from window_server.domain.session import HELD_STATES, LANGUAGES, State
from window_server.settings import Settings

log = logging.getLogger(__name__)

PRESENCE_STATES = ("available", "offered", "in_service", "wrap_up", "away", "offline")
OPEN_STATES = (State.WAITING, State.OFFERED, State.IN_SERVICE, State.TRANSFERRING, State.RECONNECTING)
_SESSION_FIELDS = ["ticket", "intake_centre", "matter", "region", "lang", "enq", "state", "offer_kind", "xfer",
                   "agent", "priority", "wide"]
TOP_WAITING = 10
EXPORT_CHUNK = 500
REVIEW_PAGE = 200

@dataclass
class LiveSnapshot:
    """The chain's live state at ``as_of`` (read once, sliced per scope)."""

    as_of: int
    waiting: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    today: dict[str, dict[str, int]] = field(default_factory=dict)
    reviews: dict[str, dict[str, int]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


class Queries:
    """Reads (and the one write of bad-review follow-ups) for pages, pushes and /metrics."""

    def __init__(
        self,
        store: DashboardStore,
        catalogue: Catalogue,
        settings: Settings,
        policy: ReviewPolicy,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.tz = ZoneInfo(settings.timezone)
        self.centre_ids = tuple(c.id for c in catalogue.centres)
        self.regions = tuple(sorted({m.home_region for m in catalogue.matters}))
        self.queues = tuple((r, lang) for r in self.regions for lang in LANGUAGES)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.tz).date()

    # --- live --------------------------------------------------------------------------------

    async def read_live(self) -> LiveSnapshot:
        """Read the queues, offers, transfers, presence index and today's totals: two round trips."""
        now = self.now_ms()
        day = local_day(now, self.tz)
        scopes = (CHAIN, *self.centre_ids)
        r = await self.store.live(self.queues, scopes, layout=LAYOUT, day=day, dim=Dim.TOTAL.value, now=now)
        snap = LiveSnapshot(as_of=now)
        for aid, raw in r.presence.items():
            try:
                snap.agents[aid] = json.loads(raw)
            except ValueError:
                continue
        snap.states = {s: _int(v) for s, v in r.states.items()}
        for scope, total, (open_, overdue) in zip(scopes, r.totals, r.reviews, strict=True):
            snap.today[scope] = by_group([total]).get("", {})
            snap.reviews[scope] = {"open": open_, "overdue": overdue}
        for queue, (own, partner, staff) in zip(self.queues, r.pools, strict=True):
            snap.pools[queue] = {"own": own, "partner": partner, "staff": staff}
        sids = list(dict.fromkeys([*r.queued, *r.offered, *r.transfers]))
        if sids:
            rows = await self.store.sessions(sids, _SESSION_FIELDS)
            for sid, values in zip(sids, rows, strict=True):
                s = dict(zip(_SESSION_FIELDS, values, strict=True))
                state = s.get("state") or ""
                if state in (State.WAITING, State.OFFERED):
                    enq = _int(s.get("enq"), now)
                    snap.waiting.append({
                        "sid": sid, "ticket": s.get("ticket") or "", "intake": s.get("intake_centre") or "",
                        "matter": s.get("matter") or "", "region": s.get("region") or "",
                        "lang": s.get("lang") or "", "state": state, "enq": enq,
                        "waited_s": max(0, now - enq) / 1000, "priority": s.get("priority") or "",
                        "wide": s.get("wide") == "1",
                    })
                elif state == State.TRANSFERRING and (xfer := s.get("xfer")):
                    try:
                        x = json.loads(xfer)
                    except ValueError:
                        continue
                    from_centre = snap.agents.get(x.get("from", ""), {}).get("centre", "")
                    to_centre = x.get("to_centre") or snap.agents.get(x.get("to_agent", ""), {}).get("centre", "")
                    snap.transfers.append({
                        "sid": sid, "from_agent": x.get("from", ""), "from_centre": from_centre,
                        "to_agent": x.get("to_agent", ""), "to_centre": to_centre, "since": _int(x.get("at")),
                        "reason": mask_digits(str(x.get("reason", ""))),
                    })
        snap.waiting.sort(key=lambda w: (w["enq"], w["sid"]))
        return snap

    def visible(self, scope: str) -> tuple[str, ...]:
        """The centres a scope covers."""
        return self.centre_ids if scope == CHAIN else (scope,)

    def live_view(self, snap: LiveSnapshot, scope: str) -> dict[str, Any]:
        """The live figures of one scope (the chain, or one centre) from a snapshot."""
        threshold = self.settings.wait_alarm_seconds
        centres = self.visible(scope)
        rows = []
        alarms: list[dict[str, Any]] = []
        for c in centres:
            centre = self.catalogue.centre(c)
            hall = [w for w in snap.waiting if w["intake"] == c]
            serves = [w for w in snap.waiting if centre.serves(w["region"])]
            agents = Counter(a.get("status", "") for a in snap.agents.values() if a.get("centre") == c)
            longest = max((w["waited_s"] for w in hall), default=None)
            over = [w for w in hall if w["waited_s"] > threshold]
            today = snap.today.get(c, {})
            k = kpis(today)
            row: dict[str, Any] = {
                "centre": c,
                "waiting": len(hall),
                "longest_wait_s": longest,
                "queue_waiting": len(serves),
                "agents": {s: agents.get(s, 0) for s in PRESENCE_STATES},
                "in_service": agents.get("in_service", 0),
                "transfers_pending": sum(1 for x in snap.transfers if x["to_centre"] == c),
                "today": {n: k[n] for n in ("tickets", "served", "abandoned", "no_show", "service_level", "asa_s")},
                "reviews": snap.reviews.get(c, {"open": 0, "overdue": 0}),
                "alarms": [],
            }
            if over:
                alarm = {"kind": "long_wait", "centre": c, "count": len(over),
                         "waited_s": max(w["waited_s"] for w in over)}
                row["alarms"].append(alarm)
                alarms.append(alarm)
            rows.append(row)
        regions = self._regions_of(snap, scope)
        region_rows = []
        for region in regions:
            waits = [w for w in snap.waiting if w["region"] == region]
            langs = {w["lang"] for w in waits} or set(LANGUAGES)
            available = sum(snap.pools.get((region, lang), {}).get(t, 0) for lang in langs for t in ("own", "partner"))
            staff = max((snap.pools.get((region, lang), {}).get("staff", 0) for lang in LANGUAGES), default=0)
            region_row: dict[str, Any] = {"region": region, "waiting": len(waits),
                   "longest_wait_s": max((w["waited_s"] for w in waits), default=None),
                          "available": available, "staff": staff, "alarm": bool(waits) and available == 0}
            if region_row["alarm"]:
                alarms.append({"kind": "no_specialist", "region": region, "count": len(waits),
                               "waited_s": region_row["longest_wait_s"]})
            region_rows.append(region_row)
        mine = [w for w in snap.waiting if scope == CHAIN or w["intake"] == scope]
        agents_all = Counter(a.get("status", "") for a in snap.agents.values()
                             if scope == CHAIN or a.get("centre") == scope)
        scope_today = kpis(snap.today.get(scope, {}))
        return {
            "scope": scope,
            "as_of": snap.as_of,
            "totals": {
                "waiting": len(mine),
                "longest_wait_s": max((w["waited_s"] for w in mine), default=None),
                "agents": {s: agents_all.get(s, 0) for s in PRESENCE_STATES},
                "in_service": agents_all.get("in_service", 0),
                "transfers_pending": len(snap.transfers) if scope == CHAIN else
                sum(1 for x in snap.transfers if x["to_centre"] == scope),
                "today": scope_today,
                "reviews": snap.reviews.get(scope, {"open": 0, "overdue": 0}),
            },
            "centres": rows,
            "regions": region_rows,
            "alarms": alarms,
            "longest": [{k: w[k] for k in ("ticket", "sid", "intake", "matter", "region", "state", "waited_s")}
                        for w in mine[:TOP_WAITING]],
            "wait_alarm_s": threshold,
        }

    def _regions_of(self, snap: LiveSnapshot, scope: str) -> list[str]:
        if scope == CHAIN:
            return list(self.regions)
        centre = self.catalogue.centre(scope)
        wanted = {r for r in centre.serves_regions if r in self.regions}
        wanted |= {w["region"] for w in snap.waiting if w["intake"] == scope}
        return sorted(wanted)

    # --- aggregates ------------------------------------------------------------------------------

    async def kpis(self, scope: str, days: list[str], group: str) -> dict[str, Any]:
        """KPIs of the sessions enqueued on ``days`` in ``scope``, in total and per group."""
        dim = Dim.PAIR.value if group in ("intake", "serving") else group
        cells = [(d, scope, Dim.TOTAL.value) for d in days]
        if group == "centre":
            cells += [(d, c, Dim.TOTAL.value) for c in self.visible(scope) for d in days]
        elif group != Dim.TOTAL:
            cells += [(d, scope, dim) for d in days]
        r, (open_, overdue) = await self.store.aggregates(cells, LAYOUT, reviews_of=scope, now=self.now_ms())
        n = len(days)
        total = by_group(r[:n]).get("", {})
        groups: list[dict[str, Any]] = []
        if group == "centre":
            for i, c in enumerate(self.visible(scope)):
                counts = by_group(r[n + i * n: n + (i + 1) * n]).get("", {})
                groups.append({"key": c, "kpis": kpis(counts)})
        elif group != Dim.TOTAL:
            per = by_group(r[n: 2 * n])
            if group in ("intake", "serving"):
                per = regroup(per, group)
            groups = [{"key": g, "kpis": kpis(c)} for g, c in sorted(per.items()) if c.get("tickets")]
        return {
            "scope": scope,
            "group": group,
            "total": kpis(total),
            "groups": groups,
            "reviews": {"open": open_, "overdue": overdue},
        }

    async def series(self, scope: str, day: str) -> dict[str, Any]:
        """Per 15 minutes of one day: tickets, service level, ASA, and sessions waiting."""
        (q, wq), _ = await self.store.aggregates(
            [(day, scope, Dim.QUARTER.value), (day, scope, Dim.WAITING.value)], LAYOUT)
        per = by_group([q])
        moves = by_group([wq], WAITING_NAMES)
        labels = buckets()
        waiting: list[int | None] = []
        level, tickets, asa = [], [], []
        running = 0
        now = datetime.fromtimestamp(self.clock(), self.tz)
        current = bucket(int(self.clock() * 1000), self.tz) if now.strftime("%Y%m%d") == day else None
        for b in labels:
            k = kpis(per.get(b, {}))
            tickets.append(k["tickets"])
            level.append(k["service_level"])
            asa.append(k["asa_s"])
            running += moves.get(b, {}).get("in", 0) - moves.get(b, {}).get("out", 0)
            # waiting at the end of the bucket; none yet for the buckets of today still to come
            waiting.append(None if current is not None and b > current else running)
        return {"scope": scope, "day": day, "buckets": [f"{b[:2]}:{b[2:]}" for b in labels],
                "waiting": waiting, "tickets": tickets, "service_level": level, "asa_s": asa}

    # --- bad reviews -------------------------------------------------------------------------

    async def reviews(self, scope: str, status: str, limit: int = REVIEW_PAGE) -> list[dict[str, Any]]:
        """Bad reviews of a scope: open ones by next deadline, or all by rating time (newest first)."""
        sids = await self.store.review_ids(scope, status, self.now_ms(), limit)
        if not sids:
            return []
        r = await self.store.reviews_with_comments(sids)
        now = self.now_ms()
        out = []
        for sid, (rev, comment) in zip(sids, r, strict=True):
            if not rev:
                continue
            st = review_status(rev, now)
            out.append({
                "sid": sid, "level": _int(rev.get("level")), "rated_at": _int(rev.get("rated_at")),
                "intake": rev.get("intake", ""), "serving": rev.get("serving", ""), "matter": rev.get("matter", ""),
                "province": rev.get("province", ""), "agent": rev.get("agent", ""),
                "comment": mask_digits(comment or ""), **st,
            })
        return out

    async def review(self, sid: str) -> dict[str, str]:
        rev = await self.store.review(sid)
        if not rev:
            raise NotFound(f"no bad review of session {sid}", code="unknown_review", field="sid")
        return rev

    async def record_step(self, sid: str, step: str, by: str, note: str) -> dict[str, Any]:
        """Record one follow-up step (called back, rectified, replied) with who and when."""
        rev = await self.review(sid)
        check_step(rev, step, note)
        prev = STEPS[STEPS.index(step) - 1] if STEPS.index(step) else ""
        scopes = review_scopes(rev)
        answer = await self.store.record_step(sid, scopes, step, prev, by, self.now_ms(), mask_digits(note))
        if answer == "not_found":
            raise NotFound(f"no bad review of session {sid}", code="unknown_review", field="sid")
        if answer in ("already_recorded", "out_of_order"):
            raise Conflict(f"{step.replace('_', ' ')}: {answer.replace('_', ' ')}", code=answer, field="action")
        log.info("bad review session=%s: %s by %s", sid, step, by)
        rev = await self.review(sid)
        return {"sid": sid, **review_status(rev, self.now_ms())}

    # --- specialists (issue 19) -------------------------------------------------------------------

    async def specialists(self, centre: str) -> dict[str, Any]:
        """A centre's specialists: name, status and since when, current session, today's handled
        count and occupancy (busy over staffed time since local midnight, ``metrics.occupancy``)."""
        now = self.now_ms()
        today = datetime.fromtimestamp(now / 1000, self.tz).date()
        day = today.strftime("%Y%m%d")
        index: dict[str, dict[str, Any]] = {}
        for aid, raw in (await self.store.presence()).items():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("centre") == centre:
                index[aid] = entry
        aids = sorted(index)
        r = await self.store.specialists(aids, layout=LAYOUT, day=day, centre=centre, dim=Dim.AGENT.value)
        start, _ = day_bounds_ms(today, self.tz)
        changes: list[dict[str, str]] = []
        for raw in r.changes:
            try:
                changes.append({**json.loads(raw), "act": PRESENCE, "centre": centre})
            except ValueError:
                continue
        changes.sort(key=lambda c: (int(c.get("ts", 0)), id_key(c.get("id", "0-0"))))
        rows: list[dict[str, Any]] = []
        statuses: dict[str, str] = {}
        for aid, (status, since, sid), name, counts in zip(aids, r.agents, r.names, r.counts or [None] * len(aids),
                                                          strict=True):
            st = status or index[aid].get("status") or "offline"
            statuses[aid] = st
            handled = dict(zip(TALLY_FIELDS, decode(counts or ""), strict=False)).get("handled", 0)
            rows.append({"username": aid, "name": name or "", "status": st,
                         "since": _int(since, _int(index[aid].get("since"))), "sid": sid or "",
                         "handled_today": handled})
        # Who changed nothing today was in their present status all day.
        seen = {c["aid"] for c in changes}
        quiet = [{"act": PRESENCE, "aid": a, "from": statuses[a], "to": statuses[a], "ts": str(start),
                  "centre": centre} for a in aids if a not in seen]
        occ = occupancy([*quiet, *changes], start, max(start, now))
        sids = [row["sid"] for row in rows if row["sid"]]
        fields = ["ticket", "state", "matter", "lang", "priority"]
        sessions = dict(zip(sids, await self.store.sessions(sids, fields), strict=True)) if sids else {}
        for row in rows:
            row["occupancy"] = occ.agents.get(row["username"])
            sid = row.pop("sid")
            if sid not in sessions:
                row["session"] = None
                continue
            sess = {f: v or "" for f, v in zip(fields, sessions[sid], strict=True)}
            row["session"] = {"sid": sid, **sess, "live": sess["state"] in HELD_STATES}
        order = {s: i for i, s in enumerate(("in_service", "offered", "wrap_up", "available", "away", "offline"))}
        rows.sort(key=lambda x: (order.get(x["status"], 9), x["name"] or x["username"]))
        return {"centre": centre, "as_of": now, "day_start": start, "occupancy": occ.centres.get(centre),
                "specialists": rows}

    # --- the intake → serving flow (N5, issue 19) ---------------------------------------------------

    async def flow(self, scope: str, days: list[str]) -> dict[str, Any]:
        """Answered sessions per (intake hall, serving centre) of the days, and whether the serving centre
        was the home region's own or a partner (N5): which partner carries which hall's load."""
        # kept for the chain only: a centre sees the pairs it is the intake or the serving side of
        hashes, _ = await self.store.aggregates([(d, CHAIN, Dim.FLOW.value) for d in days], LAYOUT)
        sums: dict[tuple[str, str], dict[str, Any]] = {}
        for group, c in by_group(hashes).items():
            intake, serving, region = (group.split(PAIR_SEP) + ["", ""])[:3]
            if scope != CHAIN and scope not in (intake, serving):
                continue
            partner = self.catalogue.has_centre(serving) and not region_contains(
                region, self.catalogue.centre(serving).region)
            cell = sums.setdefault((intake, serving), {"intake": intake, "serving": serving, "served": 0,
                                                       "handled": 0, "partner_served": 0, "regions": []})
            cell["served"] += c.get("served", 0)
            cell["handled"] += c.get("handled", 0)
            if partner:
                cell["partner_served"] += c.get("served", 0)
            if region not in cell["regions"]:
                cell["regions"].append(region)
        cells = [sums[k] for k in sorted(sums)]
        carried: dict[str, int] = defaultdict(int)
        for x in cells:
            if x["partner_served"]:
                carried[x["serving"]] += x["partner_served"]
        return {"scope": scope, "intakes": sorted({x["intake"] for x in cells}),
                "servings": sorted({x["serving"] for x in cells}), "cells": cells,
                "partners": [{"centre": c, "served": n} for c, n in sorted(carried.items(), key=lambda i: (-i[1], i[0]))]}

    async def user_names(self, usernames: list[str]) -> dict[str, str]:
        """Display names of users (those without one are left out)."""
        if not usernames:
            return {}
        names = await self.store.user_names(usernames)
        return {u: n for u, n in zip(usernames, names, strict=True) if n}

    # --- exports -----------------------------------------------------------------------------

    async def session_ids(self, scope: str, days: list[str], index: str) -> AsyncIterator[list[str]]:
        """The sessions (or rated sessions) of a scope and days, in chunks."""
        for d in days:
            start = 0
            while True:
                chunk = await self.store.index_chunk(index, d, scope, start, EXPORT_CHUNK)
                if not chunk:
                    break
                yield chunk
                start += EXPORT_CHUNK

    async def session_rows(self, sids: list[str]) -> list[tuple[str, dict[str, str], dict[str, Any] | None]]:
        """Each session's stored fields and its folded record (None once expired)."""
        out: list[tuple[str, dict[str, str], dict[str, Any] | None]] = []
        for sid, (s, rec, rev) in zip(sids, await self.store.export_rows(sids), strict=True):
            record: dict[str, Any] | None = json.loads(rec) if rec else None
            if record is not None:
                record["review"] = rev or None
            elif rev:
                record = {"review": rev}
            out.append((sid, s, record))
        return out

    async def agent_centres(self) -> dict[str, str]:
        """Specialist → centre, from the presence index (for exports of expired records)."""
        raw = await self.store.presence()
        out = {}
        for aid, v in raw.items():
            try:
                out[aid] = json.loads(v).get("centre", "")
            except ValueError:
                continue
        return out


def states_open(snap: LiveSnapshot) -> dict[str, int]:
    """Sessions per open state (the /metrics gauge)."""
    return {s.value: max(0, snap.states.get(s.value, 0)) for s in OPEN_STATES}


def waiting_by_centre(snap: LiveSnapshot) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for w in snap.waiting:
        counts[w["intake"]] += 1
    return counts
