"""The dashboard's HTTP shell: the page, the JSON API, CSV exports and /metrics.

Every API route asks for a manager, team lead or chain manager login and resolves the scope
first: a chain manager sees the chain or any centre; a manager or team lead their own centre
only (``?centre=`` naming another is refused with 403 ``out_of_scope``). Handlers parse, call
``Queries`` and dump.
"""

from __future__ import annotations

import csv
import hmac
import io
import ipaddress
import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from window_server.appkeys import CATALOGUE, SETTINGS
from window_server.dashboard.pages import render
from window_server.dashboard.prom import CONTENT_TYPE
from window_server.dashboard.queries import Queries
from window_server.dashboard.rules import (
    CHAIN,
    KPI_GROUPS,
    MAX_NOTE,
    STEPS,
    TARGETS,
    against_targets,
    csv_cell,
    day_range,
    mask_digits,
    parse_day,
    review_status,
)
from window_server.dashboard.service import DASHBOARD, fold_config
from window_server.domain.auth import Principal, Role, can_manage_centre, visible_centres
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from window_server.http.auth import json_object, require_user, text_field
from window_server.http.client import client_address
from window_server.settings import Settings

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

DASHBOARD_ROLES = {Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER}
GROUPS = ("centre", *KPI_GROUPS)
LEVEL_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


def _queries(request: web.Request) -> Queries:
    return request.app[DASHBOARD].queries


def _json(data: Any) -> web.Response:
    resp = web.json_response(data, dumps=lambda d: json.dumps(d, ensure_ascii=False))
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def _scope(request: web.Request) -> tuple[Principal, str]:
    """The principal and the scope asked for (default: theirs); 403 outside their scope."""
    principal = await require_user(request, DASHBOARD_ROLES)
    wanted = request.query.get("centre", "")
    if not wanted:
        return principal, CHAIN if principal.role is Role.CHAIN_MANAGER else principal.centre
    if wanted == CHAIN:
        if principal.role is not Role.CHAIN_MANAGER:
            raise Forbidden("only a chain manager sees the whole chain", code="out_of_scope", field="centre")
        return principal, CHAIN
    if not request.app[CATALOGUE].has_centre(wanted):
        raise NotFound(f"no centre {wanted[:64]!r} in the chain", code="unknown_centre", field="centre")
    if not can_manage_centre(principal, wanted):
        raise Forbidden(f"you may see centre {principal.centre} only", code="out_of_scope", field="centre")
    return principal, wanted


def _targets(settings: Settings) -> dict[str, float]:
    return {name: float(getattr(settings, setting)) for name, (setting, _higher) in TARGETS.items()}


def _days(request: web.Request, q: Queries) -> tuple[str, str, list[str]]:
    today = q.today()
    start = parse_day(request.query["from"], "from") if "from" in request.query else today
    end = parse_day(request.query["to"], "to") if "to" in request.query else start if "from" in request.query else today
    return start.isoformat(), end.isoformat(), day_range(start, end)


# --- the page ----------------------------------------------------------------------------------


@routes.get("/dashboard")
async def page(request: web.Request) -> web.StreamResponse:
    """The dashboard; without a manager, team lead or chain manager login, the login page."""
    try:
        await require_user(request, DASHBOARD_ROLES)
    except Unauthenticated:
        return render(request, "login.html", message="")
    except Forbidden:
        return render(request, "login.html", message="role")
    return render(request, "dashboard.html", message="")


# --- the API -------------------------------------------------------------------------------------


@routes.get("/api/dashboard/meta")
async def meta(request: web.Request) -> web.StreamResponse:
    """Who is asking, what they may see, names, thresholds and deadlines: what the page needs once."""
    principal = await require_user(request, DASHBOARD_ROLES)
    catalogue = request.app[CATALOGUE]
    settings = request.app[SETTINGS]
    d = request.app[DASHBOARD]
    ids = tuple(c.id for c in catalogue.centres)
    policy = d.policy
    provinces = sorted({c.province for c in catalogue.centres})
    return _json({
        "user": {"username": principal.subject, "role": principal.role.value, "centre": principal.centre},
        "scopes": ([CHAIN] if principal.role is Role.CHAIN_MANAGER else []) + list(visible_centres(principal, ids)),
        "centres": [{"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en, "province": c.province,
                     "region": c.region} for c in catalogue.centres],
        "regions": {r.code: {"name_zh": r.name_zh, "name_en": r.name_en} for r in catalogue.regions},
        "matters": {m.code: {"name_zh": m.name_zh, "name_en": m.name_en} for m in catalogue.matters},
        "today": d.queries.today().isoformat(),
        "timezone": settings.timezone,
        "thresholds": {
            "t_answer_s": settings.service_level_seconds, "s_short_s": settings.short_abandon_seconds,
            "wait_alarm_s": settings.wait_alarm_seconds, "handle_alarm_s": settings.handle_alarm_seconds,
            "push_interval_s": settings.dashboard_push_seconds,
        },
        "targets": {**_targets(settings), "margin": settings.target_margin},
        "deadlines": {p: {**vars(policy.deadlines(p)), "name": policy.names.get(p, "")} for p in provinces},
        "groups": list(GROUPS),
    })


@routes.get("/api/dashboard/live")
async def live(request: web.Request) -> web.StreamResponse:
    """Live figures of the scope: waiting, longest wait, specialists by status, transfers, alarms."""
    _p, scope = await _scope(request)
    q = _queries(request)
    return _json(q.live_view(await q.read_live(), scope))


@routes.get("/api/dashboard/kpis")
async def kpis(request: web.Request) -> web.StreamResponse:
    """KPIs of the sessions enqueued from ``from`` to ``to`` (local days) in the scope, per group."""
    principal, scope = await _scope(request)
    group = request.query.get("group", "total")
    if group not in GROUPS:
        raise InvalidInput(f"group must be one of {', '.join(GROUPS)}", field="group")
    q = _queries(request)
    start, end, days = _days(request, q)
    result = await q.kpis(scope, days, group)
    settings = request.app[SETTINGS]
    cfg = fold_config(settings)
    targets = against_targets(result["total"], _targets(settings), settings.target_margin)
    return _json({"from": start, "to": end, **result, "targets": targets, "t_answer_s": cfg.t_answer_s,
                  "s_short_s": cfg.s_short_s})


@routes.get("/api/dashboard/specialists")
async def specialists(request: web.Request) -> web.StreamResponse:
    """A centre's specialists by name: status and since when, current session, today's handled and occupancy."""
    _p, scope = await _scope(request)
    if scope == CHAIN:
        raise InvalidInput("choose a centre (?centre=<id>): the panel shows one centre at a time",
                           code="centre_required", field="centre")
    return _json(await _queries(request).specialists(scope))


@routes.get("/api/dashboard/flow")
async def flow(request: web.Request) -> web.StreamResponse:
    """Sessions per (intake centre, serving centre) over the range: which partner carries which hall's load."""
    _p, scope = await _scope(request)
    q = _queries(request)
    start, end, days = _days(request, q)
    return _json({"from": start, "to": end, **await q.flow(scope, days)})


@routes.get("/api/dashboard/series")
async def series(request: web.Request) -> web.StreamResponse:
    """One day per 15 minutes: sessions waiting, tickets, service level, ASA."""
    _p, scope = await _scope(request)
    q = _queries(request)
    day = parse_day(request.query["day"], "day") if "day" in request.query else q.today()
    return _json(await q.series(scope, day.strftime("%Y%m%d")))


@routes.get("/api/dashboard/bad-reviews")
async def bad_reviews(request: web.Request) -> web.StreamResponse:
    """Bad reviews (差评) of the scope with their deadlines: open (default), overdue or all."""
    _p, scope = await _scope(request)
    status = request.query.get("status", "open")
    if status not in ("open", "overdue", "all"):
        raise InvalidInput("status must be open, overdue or all", field="status")
    return _json({"scope": scope, "status": status, "reviews": await _queries(request).reviews(scope, status)})


@routes.post("/api/dashboard/bad-reviews/{sid}/actions")
async def review_action(request: web.Request) -> web.StreamResponse:
    """Record a follow-up step of a bad review: called_back, rectified, replied (in that order)."""
    principal = await require_user(request, DASHBOARD_ROLES)
    sid = request.match_info["sid"][:32]
    q = _queries(request)
    # Scope first, and one answer for "another centre's" and "no such review": a 404 beside a
    # 403 would tell a manager which sessions of other centres have bad reviews.
    try:
        rev = await q.review(sid)
    except NotFound:
        rev = {}
    if not any(can_manage_centre(principal, c) for c in (rev.get("serving", ""), rev.get("intake", "")) if c):
        if principal.role is Role.CHAIN_MANAGER:  # sees every centre: there is nothing to hide
            raise NotFound(f"no bad review of session {sid}", code="unknown_review", field="sid")
        raise Forbidden(f"no bad review of session {sid} in your centre", code="out_of_scope", field="sid")
    body = await json_object(request)
    action = text_field(body, "action", max_chars=32)
    if action not in STEPS:
        raise InvalidInput(f"action must be one of {', '.join(STEPS)}", field="action")
    # what was done is required (rules.check_step answers note_required, field "note")
    note = text_field(body, "note", max_chars=MAX_NOTE) if "note" in body else ""
    return _json(await q.record_step(sid, action, principal.subject, note))


# --- exports ---------------------------------------------------------------------------------------


def _local(ms: Any, q: Queries) -> str:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, q.tz).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return ""


def _seconds(a: Any, b: Any) -> str:
    try:
        return f"{(int(b) - int(a)) / 1000:.1f}"
    except (TypeError, ValueError):
        return ""


async def _csv(request: web.Request, name: str, header: list[str], rows: Any) -> web.StreamResponse:
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })
    await resp.prepare(request)
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")  # a byte-order mark, so spreadsheet programs read the Chinese as UTF-8
    writer.writerow(header)
    async for chunk in rows:
        for row in chunk:
            writer.writerow([csv_cell(v) for v in row])
        await resp.write(buf.getvalue().encode("utf-8"))
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        await resp.write(buf.getvalue().encode("utf-8"))
    await resp.write_eof()
    return resp


SESSION_COLUMNS = ["sid", "ticket", "enqueued_at", "intake_centre", "intake_centre_name", "booth", "matter",
                   "matter_name", "region", "region_name", "lang", "priority", "source", "state", "answered_at",
                   "wait_s", "serving_centre", "serving_centre_name", "agents", "agent_names", "ended_at",
                   "ended_by", "handle_s", "outcome", "case_number", "transfers", "rating"]
RATING_COLUMNS = ["sid", "rated_at", "level", "label", "bad_review", "intake_centre", "intake_centre_name",
                  "serving_centre", "serving_centre_name", "matter", "matter_name", "agent", "agent_name", "comment",
                  "follow_up", "called_back_at", "rectified_at", "replied_at"]


class Names:
    """Names beside codes in the exports: centres, matters and regions from the catalogue (Chinese),
    specialists' display names read per chunk."""

    def __init__(self, catalogue: Catalogue, centres: dict[str, str]) -> None:
        self.catalogue = catalogue
        self.centres = centres  # specialist -> centre (the presence index), for expired records
        self.users: dict[str, str] = {}

    def centre(self, cid: str) -> str:
        return self.catalogue.centre(cid).name_zh if cid and self.catalogue.has_centre(cid) else ""

    def matter(self, code: str) -> str:
        return self.catalogue.matter(code).name_zh if code and self.catalogue.has_matter(code) else ""

    def region(self, code: str) -> str:
        return self.catalogue.region(code).name_zh if code and self.catalogue.has_region(code) else ""

    def user(self, username: str) -> str:
        return self.users.get(username, "")


def _session_row(sid: str, s: dict[str, str], rec: dict[str, Any] | None, q: Queries, names: Names) -> list[Any]:
    f = (rec or {}).get("f") or {}
    served = [str(a) for a in _list(s.get("served"))]
    serving = f.get("serving") or (names.centres.get(served[0], "") if served else "")
    end = f.get("wrap") or s.get("ended")
    answered = f.get("answered") or s.get("answered")
    waited_until = answered or (s.get("ended") if s.get("state") == "abandoned" else None)
    intake, matter, region = s.get("intake_centre", ""), s.get("matter", ""), s.get("region", "")
    return [
        sid, s.get("ticket", ""), _local(s.get("enq"), q), intake, names.centre(intake), s.get("booth", ""),
        matter, names.matter(matter), region, names.region(region), s.get("lang", ""), s.get("priority", ""),
        s.get("source", ""), s.get("state", ""), _local(answered, q) if answered else "",
        _seconds(s.get("enq"), waited_until) if waited_until else "", serving, names.centre(serving),
        " ".join(served), " ".join(names.user(a) or "-" for a in served),
        _local(s.get("ended"), q) if s.get("ended") else "", f.get("end_act", ""),
        _seconds(answered, end) if answered and end else "", s.get("outcome", ""),
        mask_digits(s.get("case_number", "")), len(_list(s.get("transfers"))), s.get("rating", ""),
    ]


def _list(raw: str | None) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _rating_row(sid: str, s: dict[str, str], rec: dict[str, Any] | None, q: Queries, names: Names) -> list[Any]:
    f = (rec or {}).get("f") or {}
    served = [str(a) for a in _list(s.get("served"))]
    level = int(s.get("rating") or 0)
    review = (rec or {}).get("review")
    status = review_status(review, q.now_ms()) if review else None
    steps = status["steps"] if status else {}
    # the rated service is the completing centre's (a bad review is attributed to it, docs/dashboard.md)
    serving = (review or {}).get("serving") or (rec or {}).get("closer") or f.get("serving") or (
        names.centres.get(served[0], "") if served else "")
    intake, matter = s.get("intake_centre", ""), s.get("matter", "")
    agent = served[-1] if served else ""
    return [
        sid, _local(s.get("rated_at"), q), level, LEVEL_LABELS.get(level, ""), "yes" if level in (1, 2) else "no",
        intake, names.centre(intake), serving, names.centre(serving), matter, names.matter(matter),
        agent, names.user(agent), mask_digits(s.get("rating_comment", "")), status["status"] if status else "",
        *(_local(steps[st]["done_at"], q) if steps and steps[st]["done_at"] else "" for st in STEPS),
    ]


async def _export(request: web.Request, index: str, columns: list[str], row: Any, name: str) -> web.StreamResponse:
    principal, scope = await _scope(request)
    q = _queries(request)
    start, end, days = _days(request, q)
    names = Names(request.app[CATALOGUE], await q.agent_centres())
    log.info("export %s by %s scope=%s %s..%s", name, principal.subject, scope, start, end)

    async def rows() -> Any:
        async for sids in q.session_ids(scope, days, index):
            chunk = [(sid, s, rec) for sid, s, rec in await q.session_rows(sids) if s]
            staff = {str(a) for _sid, s, _rec in chunk for a in _list(s.get("served"))} - set(names.users)
            names.users.update(await q.user_names(sorted(staff)))
            yield [row(sid, s, rec, q, names) for sid, s, rec in chunk]

    return await _csv(request, f"{name}-{scope}-{start}-{end}.csv", columns, rows())


@routes.get("/api/dashboard/export/sessions.csv")
async def export_sessions(request: web.Request) -> web.StreamResponse:
    """The sessions enqueued in the range and scope, one row each, names beside codes (free text masked)."""
    return await _export(request, "dash_sessions", SESSION_COLUMNS, _session_row, "sessions")


@routes.get("/api/dashboard/export/ratings.csv")
async def export_ratings(request: web.Request) -> web.StreamResponse:
    """The ratings of the sessions enqueued in the range and scope, names beside codes (comments masked)."""
    return await _export(request, "dash_ratings", RATING_COLUMNS, _rating_row, "ratings")


# --- /metrics ------------------------------------------------------------------------------------


def _metrics_allowed(request: web.Request) -> bool:
    token = request.app[SETTINGS].metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus exposition: waiting per centre, sessions by state, queue counters, errors."""
    if not _metrics_allowed(request):
        raise Forbidden("/metrics answers loopback clients, or a bearer token (RW_METRICS_TOKEN)")
    d = request.app[DASHBOARD]
    d.prom.set_live(await d.live.read_live())
    d.prom.set_backlog(await d.aggregator.group_info())
    resp = web.Response(body=d.prom.exposition())
    resp.headers["Content-Type"] = CONTENT_TYPE
    return resp
