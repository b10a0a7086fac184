"""A scripted day through the real queue: the dashboard API returns the hand-computed KPIs,
and exactly what ``compute_kpis`` gives over the event log."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from tests.dashboard.conftest import DAY, TZ, Dash
from window_server.dashboard.rules import day_bounds_ms, parse_day
from window_server.domain.auth import Role
from window_server.domain.metrics import GroupKey, compute_kpis, kpis_by
from window_server.store.events import read_entries
from window_server.store.keys import key

T, S = 60, 10


async def play_the_day(d: Dash) -> dict[str, str]:
    """Seven sessions at the intake centre I (one at the home centre H), two specialists at H.

    S1 answered in 40 s, completed, rated 5; S2 leaves after 5 s (a short abandon); S3 leaves
    after 320 s; S4 declined once, answered after 75 s, transferred a1 → a2, completed, rated 2
    (a bad review); S5 a no-show when offered; S6 (intake H) answered in 5 s, still in service;
    S7 offered, the offer times out, still waiting at the end.
    """
    c = d.chain
    await d.at(0)
    await d.agent("a1")
    await d.agent("a2")
    s = {}
    s["S1"] = await d.ticket("b1")
    await d.at(30)
    await d.store.presence("a1", "available")  # offered S1
    await d.at(40)
    await d.store.accept("a1", s["S1"])
    await d.at(60)
    s["S2"] = await d.ticket("b2")
    await d.at(65)
    await d.queue.leave(s["S2"], "b2")
    await d.at(100)
    s["S3"] = await d.ticket("b3", matter=c.matter2)
    await d.at(200)
    await d.queue.complete("a1", s["S1"], "consultation")
    await d.at(210)
    await d.queue.rate(s["S1"], "b1", 5)
    await d.at(230)
    await d.store.presence("a1", "away")  # ends the wrap-up by hand: S1 handled 190 s
    await d.at(420)
    await d.queue.leave(s["S3"], "b3")
    await d.at(500)
    s["S4"] = await d.ticket("b4")
    await d.at(520)
    await d.store.presence("a2", "available")  # offered S4
    await d.at(535)
    await d.store.decline("a2", s["S4"], "not now")
    await d.at(560)
    await d.store.presence("a1", "available")  # offered S4
    await d.at(575)
    await d.store.accept("a1", s["S4"])
    await d.at(600)
    await d.queue.transfer("a1", s["S4"], reason="needs the other desk", to_agent="a2")
    await d.at(610)
    await d.store.accept("a2", s["S4"])  # the transfer; a1 goes to wrap-up
    await d.at(615)
    await d.store.presence("a1", "away")  # a1's wrap-up: not the end of S4's handling
    await d.at(900)
    await d.queue.complete("a2", s["S4"], "consultation")
    await d.at(905)
    await d.queue.rate(s["S4"], "b4", 2, "身份证330106199001011234的事没办成")
    await d.at(960)
    await d.store.presence("a2", "away")  # S4 handled 960 − 575 = 385 s
    await d.at(1000)
    s["S5"] = await d.ticket("b5", matter=c.matter2)
    await d.at(1010)
    await d.store.presence("a1", "available")  # offered S5
    await d.at(1025)
    await d.store.no_show("a1", s["S5"], "nobody at the booth")
    await d.at(1100)
    s["S6"] = await d.ticket("b6", intake=c.home)  # offered to a1 at once
    await d.at(1105)
    await d.store.accept("a1", s["S6"])
    await d.at(1200)
    s["S7"] = await d.ticket("b7")
    await d.at(1210)
    await d.store.presence("a2", "available")  # offered S7
    await d.at(1231)  # the offer timed out (deadline 1230): S7 waits again
    await d.at(1240)
    return s


EXPECTED_DAY: dict[str, Any] = {
    "tickets": 7, "served": 3, "abandoned": 2, "short_abandons": 1, "no_show": 1, "completed": 2,
    "interrupted": 0, "answered_within_t": 2, "handled": 2, "transfers": 1, "transfers_accepted": 1,
    "transfers_declined": 0, "transfers_timed_out": 0, "ratings": 2, "satisfied": 1, "bad_reviews": 1,
    "rating_levels": [0, 1, 0, 0, 1],
    "asa_s": 40.0,  # (40 + 75 + 5) / 3
    "service_level": 0.5,  # 2 within T / (3 served + 2 abandoned − 1 short)
    "abandonment_rate": 2 / 7,
    "aht_s": 287.5,  # (190 + 385) / 2
    "satisfaction": 0.5, "rating_coverage": 1.0,
    "over_wait": 1,  # S3 waited 320 s > 300
    "over_handle": 1,  # S4 took 385 s > 300
}


def as_api(kpis: Any) -> dict[str, Any]:
    """A metrics.Kpis as the API shows it (the threshold counts are the dashboard's own)."""
    return dict(json.loads(json.dumps(asdict(kpis))))


def without_extras(k: dict[str, Any]) -> dict[str, Any]:
    return {n: v for n, v in k.items() if n not in ("over_wait", "over_handle")}


async def log_of(d: Dash) -> list[dict[str, str]]:
    """The whole chain log, as compute_kpis reads it."""
    return [fields for _id, fields in read_entries(await d.store.redis.xrange(key("events")))]


async def test_the_api_returns_the_hand_computed_day_and_compute_kpis_agrees(dash_factory: Any) -> None:
    d = await dash_factory()
    await d.login("chief", Role.CHAIN_MANAGER)
    sids = await play_the_day(d)
    await d.drained()

    status, body = await d.get(f"/api/dashboard/kpis?from={DAY}&to={DAY}", "chief")
    assert status == 200, body
    assert body["scope"] == "chain" and body["t_answer_s"] == T and body["s_short_s"] == S
    assert body["total"] == EXPECTED_DAY

    events = await log_of(d)
    start, end = day_bounds_ms(parse_day(DAY, "day"), TZ)
    reference = compute_kpis(events, t_answer_s=T, s_short_s=S, start_ms=start, end_ms=end)
    assert without_extras(body["total"]) == as_api(reference)

    # every view equals kpis_by over the same log
    for group, gk in (("intake", GroupKey.INTAKE), ("serving", GroupKey.SERVING), ("matter", GroupKey.MATTER),
                      ("pair", GroupKey.PAIR)):
        status, body = await d.get(f"/api/dashboard/kpis?from={DAY}&to={DAY}&group={group}", "chief")
        assert status == 200
        want = {g: as_api(k) for g, k in kpis_by(events, gk, t_answer_s=T, s_short_s=S,
                                                  start_ms=start, end_ms=end).items()}
        got = {g["key"]: without_extras(g["kpis"]) for g in body["groups"]}
        assert got == want, group

    # a centre's figures are those of the sessions it took part in (as intake or as serving centre)
    c = d.chain
    for centre, members in ((c.intake, ["S1", "S2", "S3", "S4", "S5", "S7"]), (c.home, ["S1", "S4", "S6"])):
        wanted = {sids[m] for m in members}
        status, body = await d.get(f"/api/dashboard/kpis?from={DAY}&to={DAY}&centre={centre}", "chief")
        assert status == 200
        ref = compute_kpis([e for e in events if e.get("sid") in wanted], t_answer_s=T, s_short_s=S,
                           start_ms=start, end_ms=end)
        assert without_extras(body["total"]) == as_api(ref), centre
    status, body = await d.get(f"/api/dashboard/kpis?from={DAY}&to={DAY}&group=centre", "chief")
    rows = {g["key"]: g["kpis"]["tickets"] for g in body["groups"]}
    assert rows[c.intake] == 6 and rows[c.home] == 3 and len(rows) == 22

    # another day has nothing
    status, body = await d.get("/api/dashboard/kpis?from=2026-03-01&to=2026-03-01", "chief")
    assert body["total"]["tickets"] == 0 and body["total"]["service_level"] is None


async def test_series_live_and_bad_review_of_the_day(dash_factory: Any) -> None:
    d = await dash_factory()
    await d.login("chief", Role.CHAIN_MANAGER)
    sids = await play_the_day(d)
    await d.drained()
    c = d.chain

    status, body = await d.get(f"/api/dashboard/series?day={DAY}", "chief")
    assert status == 200
    at = {b: i for i, b in enumerate(body["buckets"])}
    assert body["tickets"][at["09:00"]] == 4 and body["tickets"][at["09:15"]] == 3
    assert body["service_level"][at["09:00"]] == 1 / 3  # S1 within T; S4 not; S3 abandoned; S2 short
    assert body["service_level"][at["09:15"]] == 1.0  # S6 within T; S5 a no-show; S7 still waiting
    assert body["waiting"][at["08:45"]] == 0 and body["waiting"][at["09:00"]] == 0
    assert body["waiting"][at["09:15"]] == 1  # S7, still waiting at 09:20:40, the clock's time
    assert body["waiting"][at["09:30"]] is None  # the rest of the day has not happened yet

    status, live = await d.get("/api/dashboard/live", "chief")
    assert status == 200
    rows = {r["centre"]: r for r in live["centres"]}
    assert rows[c.intake]["waiting"] == 1 and rows[c.intake]["longest_wait_s"] == 40.0
    assert rows[c.home]["agents"]["in_service"] == 1 and rows[c.home]["agents"]["available"] == 1
    assert rows[c.home]["queue_waiting"] == 1
    assert live["totals"]["today"]["tickets"] == 7
    assert [x["sid"] for x in live["longest"]] == [sids["S7"]]

    status, body = await d.get("/api/dashboard/bad-reviews", "chief")
    assert status == 200
    [review] = body["reviews"]
    assert review["sid"] == sids["S4"] and review["level"] == 2 and review["serving"] == c.home
    assert review["comment"] == "身份证330106********1234的事没办成"
    assert review["status"] == "open"
    day_ms = 86_400_000
    assert review["steps"]["called_back"]["due"] == review["rated_at"] + day_ms
    assert review["steps"]["replied"]["due"] == review["rated_at"] + 15 * day_ms
