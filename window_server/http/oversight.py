"""Oversight over HTTP: the access log per session and per person (JSON and CSV), and legal holds.

- ``GET /api/sessions/{sid}/access`` and ``…/access.csv``: every view or download of the session's
  recording, stills, PDF or evidence package, granted or refused, newest first. For the managers
  and team leads of its intake or a serving centre, and chain managers.
- ``GET /api/access?who=…`` and ``/api/access.csv?who=…``: the same, of one person (a username,
  ``booth:<id>``, or ``-`` for requests nobody was authenticated for). A manager: the people and
  booths of their own centre; a chain manager: anyone (``-`` too).
- ``GET/PUT/DELETE /api/sessions/{sid}/hold``: see, set (``{reason}``, at most 500 characters) or
  lift the session's legal hold; for managers of the session's centres and chain managers.

Refusals: 401 without a login, 403 ``forbidden`` for a role that may not, 403 ``out_of_scope``
for a session or person outside the caller's centres. The CSV is UTF-8 with a byte-order mark
(as the dashboard's exports), times in the chain's time zone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from window_server.appkeys import ACCESS, ACCOUNTS, MATERIALS, REDIS, SETTINGS, STORE
from window_server.domain.auth import BOOTH_ID, USERNAME, Principal
from window_server.domain.errors import InvalidInput, NotFound
from window_server.http.auth import json_object, require_user
from window_server.http.materials import _sid
from window_server.recording.holds import (
    HOLD_ROLES,
    OVERSIGHT_ROLES,
    PERSON_ROLES,
    Holds,
    may_read_access,
    may_read_person,
    out_of_scope,
)
from window_server.recording.holds_store import HoldsStore
from window_server.store.access_log import MAX_READ

routes = web.RouteTableDef()

ANONYMOUS = "-"
DEFAULT_LIMIT = 1000
COLUMNS = ["time", "who", "role", "centre", "action", "sid", "item", "from", "allowed", "code"]
_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
_BOOTH = "booth:"
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_READ:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_READ}", field="limit")
    return int(raw)


def _who(request: web.Request) -> str:
    who = request.query.get("who", "")
    booth = who[len(_BOOTH):] if who.startswith(_BOOTH) else None
    if who == ANONYMOUS or USERNAME.fullmatch(who) or (booth and len(booth) <= 64 and BOOTH_ID.fullmatch(booth)):
        return who
    raise InvalidInput("who must be a username, booth:<booth id> or -", field="who")


# --- the access log ------------------------------------------------------------------------------


async def _session_entries(request: web.Request, default_limit: int) -> tuple[str, list[dict[str, Any]]]:
    sid = _sid(request)
    principal = await require_user(request, set(OVERSIGHT_ROLES))
    parties = await request.app[MATERIALS].parties(sid)  # 404 unknown_session
    if not may_read_access(principal, parties):
        raise out_of_scope(f"session {sid} is not of a centre you manage")
    return sid, await request.app[ACCESS].by_session(sid, _limit(request, default_limit))


async def _person_centre(request: web.Request, who: str) -> str | None:
    """The centre of a user or booth (None: unknown, or nobody)."""
    accounts = request.app[ACCOUNTS]
    if who == ANONYMOUS:
        return None
    if who.startswith(_BOOTH):
        try:
            return (await accounts.get_booth(who[len(_BOOTH):])).centre
        except NotFound:
            return None
    user = await accounts.find_user(who)
    return None if user is None else user.centre


async def _person_entries(request: web.Request, default_limit: int) -> tuple[str, list[dict[str, Any]]]:
    principal = await require_user(request, set(PERSON_ROLES))
    who = _who(request)
    if not may_read_person(principal, await _person_centre(request, who)):
        raise out_of_scope(f"{who} is not of your centre")
    return who, await request.app[ACCESS].by_person(who, _limit(request, default_limit))


@routes.get("/api/sessions/{sid}/access")
async def session_access(request: web.Request) -> web.StreamResponse:
    """Who saw what of the session, and who was refused, newest first."""
    sid, entries = await _session_entries(request, DEFAULT_LIMIT)
    return web.json_response({"sid": sid, "entries": entries}, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/access.csv")
async def session_access_csv(request: web.Request) -> web.StreamResponse:
    """The session's access log as CSV."""
    sid, entries = await _session_entries(request, MAX_READ)
    return _csv(request, f"access-{sid}.csv", entries)


@routes.get("/api/access")
async def person_access(request: web.Request) -> web.StreamResponse:
    """What one person saw of any session, and where they were refused, newest first."""
    who, entries = await _person_entries(request, DEFAULT_LIMIT)
    return web.json_response({"who": who, "entries": entries}, headers=_PRIVATE)


@routes.get("/api/access.csv")
async def person_access_csv(request: web.Request) -> web.StreamResponse:
    """One person's access log as CSV."""
    who, entries = await _person_entries(request, MAX_READ)
    return _csv(request, f"access-{_FILENAME_UNSAFE.sub('_', who)}.csv", entries)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (as ``dashboard.rules.csv_cell``)."""
    text = "" if value is None else str(value)
    if text != ANONYMOUS and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_rows(entries: Iterable[dict[str, Any]], tz: str) -> list[list[str]]:
    """The CSV rows of access-log entries: local time, then the entry's fields."""
    zone = ZoneInfo(tz)
    rows = []
    for e in entries:
        try:
            when = datetime.fromtimestamp(int(e.get("at", 0)) / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")
        except (TypeError, ValueError, OverflowError):
            when = ""
        rows.append([_cell(v) for v in (
            when, e.get("who"), e.get("role"), e.get("centre"), e.get("action"), e.get("sid"), e.get("item"),
            e.get("addr"), "yes" if e.get("allowed") else "no", e.get("code"))])
    return rows


def _csv(request: web.Request, name: str, entries: list[dict[str, Any]]) -> web.Response:
    buf = io.StringIO()
    buf.write("\ufeff")  # a byte-order mark, so spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(csv_rows(entries, request.app[SETTINGS].timezone))
    return web.Response(body=buf.getvalue().encode("utf-8"), headers={
        **_PRIVATE, "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'})


# --- legal holds -----------------------------------------------------------------------------------


def _holds(request: web.Request) -> Holds:
    app = request.app
    return Holds(HoldsStore(app[REDIS]), app[MATERIALS].parties, app[STORE].now_ms)


async def _manager(request: web.Request) -> Principal:
    return await require_user(request, set(HOLD_ROLES))


@routes.get("/api/sessions/{sid}/hold")
async def get_hold(request: web.Request) -> web.StreamResponse:
    """The session's legal hold and whether a bad-review follow-up holds it."""
    sid = _sid(request)
    hold = await _holds(request).view(await _manager(request), sid)
    return web.json_response({"hold": hold}, headers=_PRIVATE)


@routes.put("/api/sessions/{sid}/hold")
async def put_hold(request: web.Request) -> web.StreamResponse:
    """Set (or replace) the legal hold: ``{reason}``; logged as the session event ``hold_set``."""
    sid = _sid(request)
    principal = await _manager(request)
    body = await json_object(request)
    hold = await _holds(request).set(principal, sid, body.get("reason"))
    return web.json_response({"hold": hold}, headers=_PRIVATE)


@routes.delete("/api/sessions/{sid}/hold")
async def delete_hold(request: web.Request) -> web.StreamResponse:
    """Lift the legal hold; logged as the session event ``hold_lifted``."""
    sid = _sid(request)
    hold = await _holds(request).lift(await _manager(request), sid)
    return web.json_response({"hold": hold}, headers=_PRIVATE)
