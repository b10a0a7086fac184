"""Issue 19 on the dashboard API: the specialists panel, targets, the intake → serving flow, names in
the exports, the follow-up notes and a bad review attributed to the centre that completed the session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import DAY, PASSWORD, Chain, Dash
from tests.dashboard.test_api import error_code, read_csv, staff
from tests.dashboard.test_scripted_day import play_the_day
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role
from window_server.domain.catalogue import Catalogue


def partner_of(catalogue: Catalogue, c: Chain) -> str:
    """A centre other than the home and intake centres that is authorised for the home region."""
    return next(x.id for x in catalogue.centres_serving(c.region) if x.id not in (c.home, c.intake))


async def named(d: Dash, username: str, name: str, centre: str) -> None:
    await d.srv.app[ACCOUNTS].add_user(username, PASSWORD, Role.SPECIALIST, centre, name=name)


async def test_the_specialists_panel_names_status_session_handled_and_occupancy(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    c = d.chain
    await named(d, "a1", "王一", c.home)
    await named(d, "a2", "李二", c.home)
    await d.at(0)
    await d.agent("a1")  # away: not staffed
    await d.agent("a2")
    await d.at(100)
    await d.store.presence("a1", "available")  # idle 100 → 200
    await d.at(200)
    s1 = await d.ticket("b1")  # offered to a1 at once: busy from here
    await d.at(210)
    await d.store.accept("a1", s1)
    await d.at(350)
    await d.queue.complete("a1", s1, "consultation")  # wrap-up 350 → 400
    await d.at(400)
    await d.store.presence("a1", "away")
    await d.at(450)
    await d.store.presence("a2", "available")
    s2 = await d.ticket("b2")  # a2 serves it, live
    await d.at(460)
    await d.store.accept("a2", s2)
    await d.at(500)
    await d.drained()

    status, body = await d.get(f"/api/dashboard/specialists?centre={c.home}", "lead-home")
    assert status == 200, body
    rows = {r["username"]: r for r in body["specialists"]}
    a1, a2 = rows["a1"], rows["a2"]
    assert (a1["name"], a1["status"], a1["session"], a1["handled_today"]) == ("王一", "away", None, 1)
    assert a1["since"] == d.store.now_ms() - 100_000
    # staffed 100 → 400 (300 s), busy 200 → 400 (offered, in service, wrap-up: 200 s)
    assert a1["occupancy"] == pytest.approx(2 / 3)
    assert (a2["name"], a2["status"], a2["handled_today"]) == ("李二", "in_service", 0)
    assert a2["session"]["sid"] == s2 and a2["session"]["live"] and a2["session"]["ticket"]
    # a2: staffed 450 → 500, busy (offered, then in service) all of it
    assert a2["occupancy"] == pytest.approx(1.0)
    assert body["occupancy"] == pytest.approx((200 + 50) / (300 + 50))
    assert [r["username"] for r in body["specialists"]] == ["a2", "a1"]  # in service first

    # the same for the manager and the chain manager (naming the centre); no one else
    status, body = await d.get("/api/dashboard/specialists", "mgr-home")
    assert status == 200 and {r["username"] for r in body["specialists"]} == {"a1", "a2"}
    status, body = await d.get(f"/api/dashboard/specialists?centre={c.home}", "chief")
    assert status == 200 and len(body["specialists"]) == 2
    status, body = await d.get("/api/dashboard/specialists", "chief")
    assert (status, error_code(body), body["error"]["field"]) == (400, "centre_required", "centre")
    status, body = await d.get(f"/api/dashboard/specialists?centre={c.home}", "mgr-intake")
    assert (status, error_code(body)) == (403, "out_of_scope")
    status, body = await d.get("/api/dashboard/specialists", "spec-home")
    assert (status, error_code(body)) == (403, "forbidden")
    status, body = await d.get("/api/dashboard/specialists", None)
    assert (status, error_code(body)) == (401, "unauthenticated")


async def test_kpis_carry_their_targets_and_a_verdict(dash_factory: Any) -> None:
    # the day: service level 0.5, ASA 40 s, abandonment 2/7, AHT 287.5 s, satisfaction 0.5, coverage 1.0
    d = await dash_factory(target_service_level=0.5, target_asa_seconds=38, target_abandonment_rate=0.1,
                           target_aht_seconds=300, target_satisfaction=0.9, target_rating_coverage=0.6,
                           target_margin=0.1)
    await staff(d)
    await play_the_day(d)
    await d.drained()
    status, body = await d.get(f"/api/dashboard/kpis?from={DAY}", "chief")
    verdict = {name: t["status"] for name, t in body["targets"].items()}
    assert verdict == {
        "service_level": "green",  # 0.5 ≥ 0.5
        "asa_s": "amber",  # 40 > 38, within 38 × 1.1
        "abandonment_rate": "red",  # 0.29 > 0.11
        "aht_s": "green",
        "satisfaction": "red",  # 0.5 < 0.81
        "rating_coverage": "green",
    }
    assert body["targets"]["asa_s"]["target"] == 38 and not body["targets"]["asa_s"]["higher_is_better"]
    status, meta = await d.get("/api/dashboard/meta", "chief")
    assert meta["targets"]["service_level"] == 0.5 and meta["targets"]["margin"] == 0.1
    status, empty = await d.get("/api/dashboard/kpis?from=2026-03-01", "chief")
    assert empty["targets"]["service_level"]["status"] == "none"


async def test_the_flow_shows_which_partner_serves_which_hall(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    c = d.chain
    partner = partner_of(d.queue.catalogue, c)
    await d.at(0)
    await d.agent("a1")  # of the home region's own centre H
    await d.agent("p1", partner)  # of a partner centre P
    await d.store.presence("a1", "available")
    own = await d.ticket("b1")  # at hall I: offered to a1
    await d.at(5)
    await d.store.accept("a1", own)
    await d.at(10)
    await d.store.presence("p1", "available")
    helped = await d.ticket("b2")  # H is busy; after RW_WIDEN_SECONDS (60) the partner may serve it
    await d.at(71)
    await d.store.accept("p1", helped)
    await d.ticket("b3", intake=c.home)  # nobody free: unanswered, not in the flow
    await d.drained()

    status, body = await d.get(f"/api/dashboard/flow?from={DAY}", "chief")
    assert status == 200, body
    cells = {(x["intake"], x["serving"]): x for x in body["cells"]}
    assert set(cells) == {(c.intake, c.home), (c.intake, partner)}
    assert (cells[(c.intake, c.home)]["served"], cells[(c.intake, c.home)]["partner_served"]) == (1, 0)
    assert (cells[(c.intake, partner)]["served"], cells[(c.intake, partner)]["partner_served"]) == (1, 1)
    assert cells[(c.intake, partner)]["regions"] == [c.region]
    assert body["intakes"] == [c.intake] and body["servings"] == sorted([c.home, partner])
    assert body["partners"] == [{"centre": partner, "served": 1}]
    # a manager sees the pairs their centre took part in
    status, body = await d.get(f"/api/dashboard/flow?from={DAY}", "mgr-home")
    assert [(x["intake"], x["serving"]) for x in body["cells"]] == [(c.intake, c.home)]
    status, body = await d.get(f"/api/dashboard/flow?centre={c.home}", "mgr-intake")
    assert (status, error_code(body)) == (403, "out_of_scope")


async def test_exports_have_names_beside_codes(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    c = d.chain
    await named(d, "a1", "王一", c.home)
    await named(d, "a2", "李二", c.home)
    s = await play_the_day(d)
    await d.drained()
    cat = d.queue.catalogue
    status, text = await d.get(f"/api/dashboard/export/sessions.csv?from={DAY}", "chief")
    row = {r["sid"]: r for r in read_csv(text)}[s["S4"]]
    assert (row["intake_centre"], row["intake_centre_name"]) == (c.intake, cat.centre(c.intake).name_zh)
    assert (row["serving_centre"], row["serving_centre_name"]) == (c.home, cat.centre(c.home).name_zh)
    assert (row["matter"], row["matter_name"]) == (c.matter, cat.matter(c.matter).name_zh)
    assert (row["region"], row["region_name"]) == (c.region, cat.region(c.region).name_zh)
    assert (row["agents"], row["agent_names"]) == ("a1 a2", "王一 李二")
    status, text = await d.get(f"/api/dashboard/export/ratings.csv?from={DAY}", "chief")
    rating = {r["sid"]: r for r in read_csv(text)}[s["S4"]]
    assert (rating["agent"], rating["agent_name"]) == ("a2", "李二")
    assert rating["serving_centre_name"] == cat.centre(c.home).name_zh
    assert rating["matter_name"] == cat.matter(c.matter).name_zh


async def test_a_bad_review_goes_to_the_centre_that_completed_the_session(dash_factory: Any) -> None:
    d = await dash_factory()
    await staff(d)
    c = d.chain
    cat = d.queue.catalogue
    partner = partner_of(cat, c)
    await d.login("mgr-partner", Role.MANAGER, partner)
    await named(d, "p1", "赵三", partner)
    await d.at(0)
    await d.agent("a1")
    await d.agent("p1", partner)
    await d.store.presence("a1", "available")
    sid = await d.ticket("b1")  # intake I, home region's own centre H answers first
    await d.at(10)
    await d.store.accept("a1", sid)
    await d.at(50)
    await d.store.presence("p1", "available")
    await d.at(60)
    await d.queue.transfer("a1", sid, reason="partner desk knows this case", to_agent="p1")
    await d.at(70)
    await d.store.accept("p1", sid)  # the partner centre P serves it to the end
    await d.at(400)
    await d.queue.complete("p1", sid, "consultation")
    await d.at(420)
    await d.queue.rate(sid, "b1", 1, "等太久")
    await d.drained()

    status, body = await d.get("/api/dashboard/bad-reviews", "mgr-partner")
    [review] = body["reviews"]
    assert (review["sid"], review["serving"], review["agent"]) == (sid, partner, "p1")
    assert review["province"] == cat.centre(partner).province
    status, body = await d.get("/api/dashboard/bad-reviews", "mgr-home")  # answered first, did not complete
    assert body["reviews"] == []
    status, body = await d.get("/api/dashboard/bad-reviews", "mgr-intake")  # the hall where the citizen sat
    assert [r["sid"] for r in body["reviews"]] == [sid]
    # P took part, so the session and its rating count in P's figures too
    status, k = await d.get(f"/api/dashboard/kpis?centre={partner}&from={DAY}", "chief")
    assert k["total"]["bad_reviews"] == 1 and k["reviews"]["open"] == 1
    # the follow-up is P's to record (H's manager may not), with a note at each step
    url = f"/api/dashboard/bad-reviews/{sid}/actions"
    status, body = await d.post(url, {"action": "called_back", "note": "已回访"}, "mgr-home")
    assert (status, error_code(body)) == (403, "out_of_scope")
    status, body = await d.post(url, {"action": "called_back", "note": ""}, "mgr-partner")
    assert (status, error_code(body), body["error"]["field"]) == (400, "note_required", "note")
    status, body = await d.post(url, {"action": "called_back", "note": "已电话回访市民"}, "mgr-partner")
    assert status == 200 and body["steps"]["called_back"]["note"] == "已电话回访市民"
    assert body["steps"]["called_back"]["by"] == "mgr-partner"
