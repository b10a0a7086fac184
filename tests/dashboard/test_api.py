"""The dashboard API's rules: scope on every route and on /dashboard, exports, bad reviews, /metrics."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard.conftest import DAY, Chain, Dash
from tests.dashboard.test_scripted_day import play_the_day
from tests.signaling.conftest import SECRET, Client, token
from window_server.app import create_app
from window_server.domain.auth import Role
from window_server.runtime.catalogue import load_catalogue
from window_server.settings import SettingsError
from window_server.store.events import read_entries
from window_server.store.keys import key

DAY_MS = 86_400_000
API = [
    "/api/dashboard/meta", "/api/dashboard/live", "/api/dashboard/kpis", "/api/dashboard/series",
    "/api/dashboard/bad-reviews", "/api/dashboard/export/sessions.csv", "/api/dashboard/export/ratings.csv",
]
SCOPED = [p for p in API if not p.endswith("/meta")]


async def staff(d: Dash) -> None:
    c = d.chain
    await d.login("chief", Role.CHAIN_MANAGER)
    await d.login("mgr-intake", Role.MANAGER, c.intake)
    await d.login("mgr-home", Role.MANAGER, c.home)
    await d.login("lead-home", Role.TEAM_LEAD, c.home)
    await d.login("spec-home", Role.SPECIALIST, c.home)


def error_code(body: Any) -> str:
    assert set(body) == {"error"}, body
    return str(body["error"]["code"])


# --- scope -----------------------------------------------------------------------------------


async def test_every_route_wants_a_dashboard_login_and_keeps_to_the_scope(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    c = d.chain
    for path in API:
        status, body = await d.get(path, None)
        assert (status, error_code(body)) == (401, "unauthenticated"), path
        status, body = await d.get(path, "spec-home")
        assert (status, error_code(body)) == (403, "forbidden"), path
    for path in SCOPED:
        for user, other in (("mgr-intake", c.home), ("lead-home", c.intake)):
            status, body = await d.get(f"{path}?centre={other}", user)
            assert (status, error_code(body)) == (403, "out_of_scope"), (path, user)
            status, body = await d.get(f"{path}?centre=chain", user)
            assert (status, error_code(body)) == (403, "out_of_scope"), (path, user)
        status, body = await d.get(f"{path}?centre=nowhere", "chief")
        assert (status, error_code(body)) == (404, "unknown_centre"), path
        status, _ = await d.get(f"{path}?centre={c.home}", "chief")
        assert status == 200, path
        status, _ = await d.get(f"{path}?centre={c.home}", "lead-home")
        assert status == 200, path

    await play_the_day(d)
    await d.drained()
    status, live = await d.get("/api/dashboard/live", "mgr-intake")
    assert live["scope"] == c.intake and [r["centre"] for r in live["centres"]] == [c.intake]
    assert all(w["intake"] == c.intake for w in live["longest"])
    status, body = await d.get(f"/api/dashboard/kpis?from={DAY}&group=centre", "mgr-intake")
    assert [g["key"] for g in body["groups"]] == [c.intake]
    status, meta = await d.get("/api/dashboard/meta", "mgr-intake")
    assert meta["scopes"] == [c.intake] and meta["user"]["role"] == "manager"
    status, meta = await d.get("/api/dashboard/meta", "chief")
    assert meta["scopes"][0] == "chain" and len(meta["scopes"]) == 23
    # the bad review of S4 (intake I, served by H) is the business of both, not of a third centre
    status, body = await d.get("/api/dashboard/bad-reviews", "mgr-home")
    assert len(body["reviews"]) == 1
    for bad in ("?from=2026-02-30", "?from=2026-03-02&to=2026-03-01", "?from=2025-01-01&to=2026-03-02"):
        status, body = await d.get(f"/api/dashboard/kpis{bad}", "chief")
        assert (status, error_code(body)) == (400, "invalid_input"), bad
    status, body = await d.get("/api/dashboard/kpis?group=booth", "chief")
    assert (status, error_code(body)) == (400, "invalid_input")


async def test_dashboard_sockets_receive_their_own_scope_only(dash_factory: Any, clients: Any) -> None:
    d = await dash_factory(secret=SECRET)
    c = d.chain
    third = next(x.id for x in d.queue.catalogue.centres if x.id not in (c.home, c.intake)
                 and not x.serves(c.region))
    socks: dict[str, Client] = {}
    for name, role, centre in (("chief", Role.CHAIN_MANAGER, ""), ("intake", Role.MANAGER, c.intake),
                               ("home", Role.TEAM_LEAD, c.home), ("third", Role.MANAGER, third)):
        socks[name] = clients("/dashboard")
        await socks[name].connect(d.srv.url, token(role, f"u-{name}", centre, "/dashboard"))
    refusal = await clients("/dashboard").refused(d.srv.url, token(Role.SPECIALIST, "s", c.home, "/agent"))
    assert refusal["code"] == "wrong_namespace"

    await d.at(0)
    await d.ticket("b1")  # a citizen at I, for a matter of H's region
    at_intake = await socks["intake"].next("queue_update", lambda p: p["totals"]["waiting"] == 1)
    assert at_intake["scope"] == c.intake and [r["centre"] for r in at_intake["centres"]] == [c.intake]
    at_home = await socks["home"].next("queue_update", lambda p: p["centres"][0]["queue_waiting"] == 1)
    assert at_home["scope"] == c.home and at_home["totals"]["waiting"] == 0  # nobody waits in H's hall
    chain = await socks["chief"].next("queue_update", lambda p: p["totals"]["waiting"] == 1)
    assert chain["scope"] == "chain" and len(chain["centres"]) == 22
    await d.ticket("b2", intake=third)  # a change at the third centre reaches its manager
    mine = await socks["third"].next("queue_update", lambda p: p["totals"]["waiting"] == 1)
    for payload in [mine, *socks["third"].inbox["queue_update"]]:
        assert payload["scope"] == third and [r["centre"] for r in payload["centres"]] == [third]
        assert all(w["intake"] == third for w in payload["longest"])


# --- exports ---------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_csv_exports_mask_personal_data_and_keep_to_the_scope(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    s = await play_the_day(d)
    await d.drained()
    c = d.chain
    async with d.srv.http.get(f"{d.srv.url}/api/dashboard/export/sessions.csv?from={DAY}",
                              headers=d.headers("chief")) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        sessions = read_csv(await resp.text())
    assert len(sessions) == 7
    row = {r["sid"]: r for r in sessions}
    s4 = row[s["S4"]]
    assert (s4["intake_centre"], s4["serving_centre"], s4["transfers"], s4["rating"]) == (c.intake, c.home, "1", "2")
    assert (s4["wait_s"], s4["handle_s"], s4["ended_by"], s4["agents"]) == ("75.0", "385.0", "complete", "a1 a2")
    assert row[s["S3"]]["state"] == "abandoned" and row[s["S3"]]["wait_s"] == "320.0"
    assert row[s["S7"]]["state"] == "waiting" and row[s["S7"]]["serving_centre"] == ""

    async with d.srv.http.get(f"{d.srv.url}/api/dashboard/export/ratings.csv?from={DAY}&to={DAY}",
                              headers=d.headers("chief")) as resp:
        text = await resp.text()
    ratings = {r["sid"]: r for r in read_csv(text)}
    assert set(ratings) == {s["S1"], s["S4"]}
    assert ratings[s["S4"]]["comment"] == "身份证330106********1234的事没办成"
    assert ratings[s["S4"]]["bad_review"] == "yes" and ratings[s["S4"]]["follow_up"] == "open"
    assert "330106199001011234" not in text

    status, body = await d.get(f"/api/dashboard/export/sessions.csv?from={DAY}", "mgr-home")
    assert {r["sid"] for r in read_csv(body)} == {s["S1"], s["S4"], s["S6"]}


async def test_a_formula_in_a_comment_is_not_run_by_a_spreadsheet(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    await d.at(0)
    await d.agent("a1")
    await d.store.presence("a1", "available")
    sid = await d.ticket("b1")
    await d.store.accept("a1", sid)
    await d.queue.complete("a1", sid, "consultation")
    await d.queue.rate(sid, "b1", 1, '=HYPERLINK("http://evil.example","x") 13812345678')
    await d.drained()
    status, text = await d.get(f"/api/dashboard/export/ratings.csv?from={DAY}", "chief")
    [row] = read_csv(text)
    assert row["comment"] == '\'=HYPERLINK("http://evil.example","x") 138****5678'


# --- bad reviews -------------------------------------------------------------------------------


async def test_bad_review_steps_in_order_once_each_logged_with_who_and_when(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    s = await play_the_day(d)
    await d.drained()
    sid = s["S4"]
    url = f"/api/dashboard/bad-reviews/{sid}/actions"
    status, body = await d.post(url, {"action": "rectified"}, "mgr-home")
    assert (status, error_code(body)) == (409, "out_of_order")
    status, body = await d.post(url, {"action": "apologised"}, "mgr-home")
    assert (status, error_code(body)) == (400, "invalid_input")
    # "no such review" and "another centre's" are one answer (issue 14 item 11), asked before the body
    status, body = await d.post("/api/dashboard/bad-reviews/RW1/actions", {"action": "called_back"}, "mgr-home")
    assert (status, error_code(body)) == (403, "out_of_scope")
    await d.login("mgr-third", Role.MANAGER, next(x.id for x in d.queue.catalogue.centres
                                                  if x.id not in (d.chain.home, d.chain.intake)))
    status, body = await d.post(url, {"action": "called_back"}, "mgr-third")
    assert (status, error_code(body)) == (403, "out_of_scope")
    status, body = await d.post(url, {"action": "apologised"}, "mgr-third")
    assert (status, error_code(body)) == (403, "out_of_scope")
    status, body = await d.post("/api/dashboard/bad-reviews/RW1/actions", {"action": "called_back"}, "chief")
    assert (status, error_code(body)) == (404, "unknown_review")  # a chain manager sees every centre anyway

    await d.at(1300)
    # what was done is required to move on (issue 19): no note, or a blank one, is refused naming the field
    for body_ in ({"action": "called_back"}, {"action": "called_back", "note": "   "}):
        status, body = await d.post(url, body_, "mgr-home")
        assert (status, error_code(body), body["error"]["field"]) == (400, "note_required", "note")
    status, body = await d.post(url, {"action": "called_back", "note": "回电 13812345678，已致歉"}, "mgr-home")
    assert status == 200, body
    step = body["steps"]["called_back"]
    assert step["done_at"] == d.store.now_ms() and step["by"] == "mgr-home" and not step["late"]
    assert step["note"] == "回电 138****5678，已致歉"
    status, body = await d.post(url, {"action": "called_back", "note": "again"}, "lead-home")
    assert (status, error_code(body)) == (409, "already_recorded")
    log = [e for _, e in read_entries(await d.store.redis.xrange(key("events"))) if e.get("act", "").startswith("review_")]
    assert log == [{"sid": sid, "act": "review_called_back", "from": "rated", "to": "rated", "by": "mgr-home",
                    "why": "回电 138****5678，已致歉", "ts": str(d.store.now_ms())}]
    own = [e for _, e in read_entries(await d.store.redis.xrange(key("session_events", sid=sid)))]
    assert own[-1]["act"] == "review_called_back"

    # Two weeks and a half later the rectification is overdue.
    await d.at(17 * 86_400)
    status, body = await d.get("/api/dashboard/bad-reviews?status=overdue", "chief")
    [review] = body["reviews"]
    assert review["status"] == "overdue" and review["steps"]["rectified"]["overdue"]
    status, k = await d.get(f"/api/dashboard/kpis?from={DAY}", "chief")
    assert k["reviews"] == {"open": 1, "overdue": 1}
    await d.drained()  # the review steps went through the log and its consumer too
    status, body = await d.post(url, {"action": "rectified", "note": "窗口流程已整改"}, "lead-home")
    assert status == 200 and body["steps"]["rectified"]["late"] and body["status"] == "overdue"
    status, body = await d.post(url, {"action": "replied", "note": "已书面反馈"}, "chief")
    assert status == 200 and body["status"] == "closed"
    status, body = await d.get("/api/dashboard/bad-reviews", "chief")
    assert body["reviews"] == []
    status, body = await d.get("/api/dashboard/bad-reviews?status=all", "chief")
    assert [r["status"] for r in body["reviews"]] == ["closed"]
    status, k = await d.get(f"/api/dashboard/kpis?from={DAY}", "chief")
    assert k["reviews"] == {"open": 0, "overdue": 0}


async def test_deadlines_come_from_the_serving_centres_province(dash_factory: Any, chain: Chain,
                                                               tmp_path: Path) -> None:
    province = load_catalogue(None, None).centre(chain.home).province
    table = tmp_path / "deadlines.toml"
    table.write_text(f'[default]\ncall_back_days = 1\nrectify_days = 15\nreply_days = 15\n\n'
                     f'[provinces."{province}"]\nname = "test"\ncall_back_days = 2\nrectify_days = 5\n'
                     f'reply_days = 7.5\n', encoding="utf-8")
    d = await dash_factory(review_deadlines_file=table)
    await staff(d)
    s = await play_the_day(d)
    await d.drained()
    status, body = await d.get("/api/dashboard/bad-reviews", "chief")
    [review] = body["reviews"]
    assert review["sid"] == s["S4"] and review["province"] == province
    steps = review["steps"]
    assert steps["called_back"]["due"] - review["rated_at"] == 2 * DAY_MS
    assert steps["rectified"]["due"] - review["rated_at"] == 5 * DAY_MS
    assert steps["replied"]["due"] - review["rated_at"] == int(7.5 * DAY_MS)
    status, meta = await d.get("/api/dashboard/meta", "chief")
    assert meta["deadlines"][province]["call_back_days"] == 2


@pytest.mark.parametrize(("text", "problem"), [
    ("[default]\ncall_back_days = 0\n", "call_back_days"),
    ("[default]\ncall_back_days = 5\nrectify_days = 2\n", "must not decrease"),
    ('[provinces."33"]\n', "6-digit code"),
    ("[default]\nwhatever = 1\n", "unknown key"),
    ("[holidays]\n", "unknown table"),
    ("not toml", "not TOML"),
])
def test_a_bad_deadlines_file_fails_at_start(make_settings: Any, tmp_path: Path, text: str, problem: str) -> None:
    table = tmp_path / "deadlines.toml"
    table.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=problem):
        create_app(make_settings(review_deadlines_file=table))


# --- /metrics ------------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_in_prometheus_format(dash_factory: Any, clients: Any) -> None:
    d = await dash_factory(secret=SECRET, metrics_token="scrape-token-123")
    await staff(d)
    await play_the_day(d)
    await d.drained()
    c = d.chain
    status, _ = await d.get("/api/dashboard/nothing-here", "chief")
    assert status == 404
    status, _ = await d.get("/api/dashboard/live", None)
    assert status == 401
    sock = clients("/dashboard")
    await sock.connect(d.srv.url, token(Role.MANAGER, "m", c.intake, "/dashboard"))
    reply = await sock.call("no_such_event", {})
    assert reply["error"]["code"] == "unknown_event"

    async with d.srv.http.get(d.srv.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        got = samples(await resp.text())
    assert got[("rw_waiting_sessions", (("centre", c.intake),))] == 1  # S7
    assert got[("rw_waiting_sessions", (("centre", c.home),))] == 0
    assert got[("rw_longest_wait_seconds", (("centre", c.intake),))] == 40
    assert got[("rw_sessions", (("state", "waiting"),))] == 1
    assert got[("rw_sessions", (("state", "in_service"),))] == 1  # S6
    assert got[("rw_offers_total", ())] == 6  # S1, S4 twice, S5, S6, S7
    assert got[("rw_accepts_total", ())] == 3  # S1, S4, S6 (the transfer's acceptance is its own event)
    assert got[("rw_offer_timeouts_total", ())] == 1
    assert got[("rw_transfers_total", ())] == 1
    assert got[("rw_session_events_total", (("act", "leave"),))] == 2
    assert got[("rw_specialists", (("centre", c.home), ("status", "in_service")))] == 1
    assert got[("rw_http_errors_total", (("status", "404"),))] >= 1
    assert got[("rw_http_errors_total", (("status", "401"),))] >= 1
    assert got[("rw_socketio_errors_total", (("code", "unknown_event"), ("namespace", "/dashboard")))] == 1
    assert got[("rw_dashboard_backlog", (("kind", "pending"),))] == 0
    assert got[("rw_dashboard_backlog", (("kind", "undelivered"),))] == 0

    # Through a proxy on this host, a client elsewhere needs the token.
    far = {"X-Forwarded-For": "203.0.113.9"}
    async with d.srv.http.get(d.srv.url + "/metrics", headers=far) as resp:
        assert resp.status == 403
    async with d.srv.http.get(d.srv.url + "/metrics", headers={**far, "Authorization": "Bearer scrape-token-123"}) as resp:
        assert resp.status == 200
