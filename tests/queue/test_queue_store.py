"""The queue against real Redis: routing order, offers, presence, transfers, reconnects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.oracle.replay import replay
from window_server.domain.errors import RemoteWindowError
from window_server.domain.routing import agent_pool
from window_server.queue.store import QueueStore
from window_server.store.events import read_entries
from window_server.store.keys import key

from .conftest import TIMING, Clock

SUZHOU, HANGZHOU = "320500", "330100"


async def ticket(store: QueueStore, booth: str, region: str = SUZHOU, priority: str = "", lang: str = "zh") -> str:
    res = await store.enqueue(
        booth=booth, intake_centre="sh-huangpu", matter="m-" + region, region=region, lang=lang,
        priority=priority, source="walk_in", consent=True,
    )
    return str(res.ok["sid"])


async def agent(store: QueueStore, aid: str, centre_region: str = SUZHOU, serves: tuple[str, ...] = (SUZHOU,),
                langs: tuple[str, ...] = ("zh",), centre: str = "", available: bool = True) -> dict[str, Any]:
    await store.agent_login(aid, centre or f"c-{centre_region}", agent_pool(centre_region, serves), langs)
    if available:
        return (await store.presence(aid, "available")).ok
    return {}


async def state(store: QueueStore, sid: str) -> str:
    return (await store.session(sid))["state"]


async def expect_error(code: str, coro: Any) -> RemoteWindowError:
    with pytest.raises(RemoteWindowError) as info:
        await coro
    assert info.value.code == code
    return info.value


# --- tickets and order ---------------------------------------------------------------------


async def test_tickets_number_per_centre_and_lane(store: QueueStore) -> None:
    a = await store.enqueue(booth="b1", intake_centre="sh-huangpu", matter="m", region=SUZHOU, lang="zh",
                            priority="", source="walk_in", consent=True)
    b = await store.enqueue(booth="b2", intake_centre="sh-huangpu", matter="m", region=SUZHOU, lang="zh",
                            priority="elderly", source="qr", consent=True)
    c = await store.enqueue(booth="b3", intake_centre="js-suzhou", matter="m", region=SUZHOU, lang="zh",
                            priority="", source="walk_in", consent=True)
    assert (a.ok["ticket"], b.ok["ticket"], c.ok["ticket"]) == ("A001", "P002", "A001")
    assert a.ok["sid"] != b.ok["sid"] and a.ok["state"] == "waiting"


async def test_numbers_restart_at_local_midnight(store: QueueStore, clock: Clock) -> None:
    # 2026-11-22 23:59:59.999 in Shanghai, then midnight: a new day's sessions and tickets
    clock.t = 1_795_363_199.999
    late = await store.enqueue(booth="b1", intake_centre="sh-huangpu", matter="m", region=SUZHOU, lang="zh",
                               priority="", source="walk_in", consent=True)
    clock.t = 1_795_363_200.0
    early = await store.enqueue(booth="b2", intake_centre="sh-huangpu", matter="m", region=SUZHOU, lang="zh",
                                priority="", source="walk_in", consent=True)
    assert late.ok["sid"] == "RW20261122000001" and early.ok["sid"] == "RW20261123000001"
    assert late.ok["ticket"] == early.ok["ticket"] == "A001"


async def test_one_open_session_per_booth(store: QueueStore) -> None:
    await ticket(store, "b1")
    await expect_error("booth_busy", ticket(store, "b1"))


async def test_priority_lane_first_then_longest_wait(store: QueueStore, clock: Clock) -> None:
    first = await ticket(store, "b1")
    clock.advance(1)
    await ticket(store, "b2")
    clock.advance(1)
    elderly = await ticket(store, "b3", priority="elderly")
    got = await agent(store, "a1")
    assert got["offer"] == elderly
    got = await agent(store, "a2")
    assert got["offer"] == first


async def test_longest_idle_specialist_first(store: QueueStore, clock: Clock) -> None:
    await agent(store, "a-early")
    clock.advance(5)
    await agent(store, "a-late")
    sid = await ticket(store, "b1")
    s = await store.session(sid)
    assert (s["state"], s["offer_agent"]) == ("offered", "a-early")


async def test_language_is_respected(store: QueueStore) -> None:
    await agent(store, "a-zh", langs=("zh",))
    sid = await ticket(store, "b1", lang="en")
    assert await state(store, sid) == "waiting"
    got = await agent(store, "a-en", langs=("zh", "en"))
    assert got["offer"] == sid


async def test_widening_reaches_partner_centres_after_the_home_window(store: QueueStore, clock: Clock) -> None:
    # a Hangzhou centre authorised for Suzhou matters is a partner, not an own centre
    await agent(store, "partner", centre_region=HANGZHOU, serves=(HANGZHOU, SUZHOU))
    sid = await ticket(store, "b1")
    assert await state(store, sid) == "waiting"
    assert (await store.session(sid))["wide"] == "0"
    clock.advance(TIMING.widen_ms / 1000 - 1)
    await store.tick()
    assert await state(store, sid) == "waiting"
    clock.advance(1)
    await store.heartbeat("partner")
    res = await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["offer_agent"], s["wide"]) == ("offered", "partner", "1")
    assert any(e["kind"] == "widen" for e in res.fx)
    assert "widen" in [e["act"] for e in await store.session_events(sid)]


async def test_own_centre_serves_at_once(store: QueueStore) -> None:
    await agent(store, "partner", centre_region=HANGZHOU, serves=(HANGZHOU, SUZHOU))
    sid = await ticket(store, "b1")
    await agent(store, "own", centre_region="320505", serves=(SUZHOU,))
    assert (await store.session(sid))["offer_agent"] == "own"


# --- offers ----------------------------------------------------------------------------------


async def test_decline_reoffers_to_the_next_and_keeps_the_place(store: QueueStore, clock: Clock, redis) -> None:
    older = await ticket(store, "b1")
    clock.advance(1)
    newer = await ticket(store, "b2")
    await agent(store, "a1")
    assert (await store.session(older))["offer_agent"] == "a1"
    clock.advance(1)
    await agent(store, "a2")  # a2 takes the newer one
    assert (await store.session(newer))["offer_agent"] == "a2"
    await store.decline("a1", older, "not my matter")
    # a1 is not offered the session it declined; it waits at its old place
    s = await store.session(older)
    assert s["state"] == "waiting"
    assert await redis.zrank(s["qkey"], older) == 0
    assert (await store.agent("a1"))["status"] == "available"
    clock.advance(1)
    await agent(store, "a3")
    assert (await store.session(older))["offer_agent"] == "a3"


async def test_declined_session_returns_to_the_decliner_after_the_memory(store: QueueStore, clock: Clock) -> None:
    sid = await ticket(store, "b1")
    await agent(store, "a1")
    await store.decline("a1", sid)
    assert await state(store, sid) == "waiting"
    clock.advance(TIMING.decline_memory_ms / 1000)
    await store.heartbeat("a1")
    await store.tick()
    assert (await store.session(sid))["offer_agent"] == "a1"


async def test_two_offer_timeouts_in_a_row_set_the_specialist_away(store: QueueStore, clock: Clock) -> None:
    s1 = await ticket(store, "b1")
    s2 = await ticket(store, "b2")
    await agent(store, "a1")
    clock.advance(TIMING.offer_ms / 1000 + 0.001)
    await store.heartbeat("a1")
    res = await store.tick()
    assert any(e.get("act") == "offer_timeout" for e in res.fx)
    assert (await store.agent("a1"))["status"] == "offered"  # offered the other session
    assert (await store.session(s2))["offer_agent"] == "a1"
    clock.advance(TIMING.offer_ms / 1000 + 0.001)
    await store.heartbeat("a1")
    await store.tick()
    assert (await store.agent("a1"))["status"] == "away"
    assert {await state(store, s1), await state(store, s2)} == {"waiting"}


async def test_accepting_an_expired_or_foreign_offer_changes_nothing(store: QueueStore, clock: Clock) -> None:
    sid = await ticket(store, "b1")
    await agent(store, "a1")
    await agent(store, "a2")
    before = await store.session(sid)
    await expect_error("not_your_offer", store.accept("a2", sid))
    clock.advance(TIMING.offer_ms / 1000 + 1)
    await expect_error("offer_expired", store.accept("a1", sid))
    assert await store.session(sid) == before
    await store.tick()  # the timeout happens; a2 is offered it
    await expect_error("not_your_offer", store.accept("a1", sid))
    await store.accept("a2", sid)


async def test_illegal_transition_names_the_state(store: QueueStore) -> None:
    sid = await ticket(store, "b1")
    err = await expect_error("illegal_transition", store.rate(sid, "b1", 5))
    assert "waiting" in err.message
    assert err.state == "waiting"  # type: ignore[attr-defined]


async def test_unknown_session_and_agent(store: QueueStore) -> None:
    await expect_error("unknown_session", store.accept("a1", "RW0"))
    await expect_error("unknown_agent", store.presence("nobody", "available"))


# --- a whole session --------------------------------------------------------------------------


async def serve(store: QueueStore, booth: str = "b1", aid: str = "a1") -> str:
    sid = await ticket(store, booth)
    await agent(store, aid)
    await store.accept(aid, sid)
    return sid


async def test_complete_rate_once_and_wrap_up(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    clock.advance(30)
    await store.complete("a1", sid, "consultation", case_number="SZ-2026-001")
    assert (await store.agent("a1"))["status"] == "wrap_up"
    await store.rate(sid, "b1", 2, "waited long")
    await expect_error("already_rated", store.rate(sid, "b1", 5))
    s = await store.session(sid)
    assert (s["state"], s["rating"], s["case_number"]) == ("rated", "2", "SZ-2026-001")
    clock.advance(TIMING.wrap_ms / 1000)
    await store.heartbeat("a1")
    await store.tick()
    assert (await store.agent("a1"))["status"] == "available"
    events = await store.session_events(sid)
    assert [e["act"] for e in events] == ["enqueue", "offer", "accept", "complete", "rate"]


async def test_identity_required_for_intake(store: QueueStore) -> None:
    sid = await serve(store)
    await expect_error("identity_required", store.complete("a1", sid, "intake", require_identity=True))
    await store.annotate("a1", sid, "identity", data={"method": "id_card_face", "result": "passed"})
    await store.complete("a1", sid, "intake", require_identity=True)
    assert await state(store, sid) == "completed"


async def test_leave_while_offered_frees_the_specialist(store: QueueStore) -> None:
    sid = await ticket(store, "b1")
    await agent(store, "a1")
    await store.leave(sid, "b1")
    assert await state(store, sid) == "abandoned"
    assert (await store.agent("a1"))["status"] == "available"
    assert await store.booth_session("b1") is None
    await expect_error("not_your_session", store.leave(await ticket(store, "b2"), "b1"))


# --- transfers ----------------------------------------------------------------------------------


async def test_transfer_needs_a_reason_and_changes_nothing_without_one(store: QueueStore) -> None:
    sid = await serve(store)
    await agent(store, "a2")
    before = await store.session(sid)
    err = await expect_error("reason_required", store.transfer("a1", sid, reason="", mode="warm", to_agent="a2"))
    assert err.field == "reason"
    assert await store.session(sid) == before


async def test_warm_transfer_to_a_named_specialist_moves_everything(store: QueueStore) -> None:
    sid = await serve(store)
    await store.annotate("a1", sid, "note", text="citizen needs the Suzhou form")
    await agent(store, "a2", centre="c-other")
    res = await store.transfer("a1", sid, reason="company matter", mode="warm", to_agent="a2")
    assert res.ok["offered_to"] == "a2"
    assert (await store.agent("a1"))["status"] == "in_service"  # warm: stays until accepted
    await store.accept("a2", sid)
    s = await store.session(sid)
    assert (s["state"], s["agent"]) == ("in_service", "a2")
    assert json.loads(s["served"]) == ["a1", "a2"]
    (t,) = json.loads(s["transfers"])
    assert (t["from"], t["to_agent"], t["reason"], t["result"]) == ("a1", "a2", "company matter", "transfer_accept")
    assert (await store.agent("a1"))["status"] == "wrap_up"
    assert [n["text"] for n in await store.notes(sid)] == ["citizen needs the Suzhou form"]


async def test_declined_cold_transfer_returns_to_the_first_specialist_with_the_reason(store: QueueStore) -> None:
    sid = await serve(store)
    await agent(store, "a2")
    await store.transfer("a1", sid, reason="needs a colleague", mode="cold", to_agent="a2")
    assert (await store.agent("a1"))["status"] == "wrap_up"
    await expect_error("presence_busy", store.presence("a1", "available"))  # held in reserve
    await store.decline("a2", sid, "not my region")
    s = await store.session(sid)
    assert (s["state"], s["agent"]) == ("in_service", "a1")
    (t,) = json.loads(s["transfers"])
    assert (t["result"], t["result_reason"]) == ("transfer_decline", "not my region")
    assert (await store.agent("a1"))["status"] == "in_service"
    assert (await store.agent("a2"))["status"] == "available"


async def test_transfer_to_a_centre_waits_for_its_specialist_then_expires(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    await store.transfer("a1", sid, reason="home centre", mode="warm", to_centre="c-target")
    assert await state(store, sid) == "transferring"
    await agent(store, "t1", centre="c-target")
    assert (await store.session(sid))["offer_agent"] == "t1"
    await store.decline("t1", sid, "busy with another")
    assert await state(store, sid) == "in_service"
    await store.transfer("a1", sid, reason="home centre again", mode="warm", to_centre="c-empty")
    clock.advance(TIMING.transfer_ms / 1000)
    await store.heartbeat("a1")
    await store.heartbeat("t1")
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["agent"]) == ("in_service", "a1")
    assert [t["result"] for t in json.loads(s["transfers"])] == ["transfer_decline", "transfer_timeout"]


async def test_transfer_target_must_be_available(store: QueueStore) -> None:
    sid = await serve(store)
    await agent(store, "a2", available=False)
    await expect_error("target_unavailable", store.transfer("a1", sid, reason="r", mode="warm", to_agent="a2"))
    await expect_error("invalid_target", store.transfer("a1", sid, reason="r", mode="warm", to_agent="a1"))


# --- presence loss and reconnects ---------------------------------------------------------------


async def test_lost_heartbeat_reoffers_an_offered_session_at_once(store: QueueStore, clock: Clock) -> None:
    sid = await ticket(store, "b1")
    await agent(store, "a1")
    clock.advance(1)
    await agent(store, "a2", available=False)
    clock.advance(TIMING.heartbeat_ttl_ms / 1000)
    await store.heartbeat("a2")
    await store.presence("a2", "available")
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["offer_agent"]) == ("offered", "a2")
    assert (await store.agent("a1"))["status"] == "offline"


async def test_specialist_lost_in_service_reconnects_within_grace(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    clock.advance(TIMING.heartbeat_ttl_ms / 1000)
    await store.tick()
    assert await state(store, sid) == "reconnecting"
    await store.agent_login("a1", "c-320500", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    await store.media(sid, "agent", "back")
    assert await state(store, sid) == "in_service"
    assert (await store.agent("a1"))["status"] == "in_service"


async def test_specialist_lost_past_grace_goes_to_the_head_of_the_queue(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    clock.advance(1)
    later = await ticket(store, "b2", priority="elderly")  # even the priority lane is behind it
    clock.advance(TIMING.heartbeat_ttl_ms / 1000)
    await store.tick()
    clock.advance(TIMING.grace_ms / 1000)
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["lane"], s["agent"]) == ("waiting", "0", "")
    got = await agent(store, "a2")
    assert got["offer"] == sid
    assert await state(store, later) == "waiting"


async def test_booth_lost_past_grace_interrupts(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    await store.media(sid, "booth", "lost")
    assert await state(store, sid) == "reconnecting"
    clock.advance(TIMING.grace_ms / 1000)
    await store.heartbeat("a1")
    await store.tick()
    assert await state(store, sid) == "interrupted"
    assert (await store.agent("a1"))["status"] == "wrap_up"


async def test_both_parties_must_be_back(store: QueueStore) -> None:
    sid = await serve(store)
    await store.media(sid, "booth", "lost")
    await store.media(sid, "agent", "lost")
    await store.media(sid, "booth", "back")
    assert await state(store, sid) == "reconnecting"
    await store.media(sid, "agent", "back")
    assert await state(store, sid) == "in_service"


async def test_the_log_explains_every_session(store: QueueStore, clock: Clock, redis) -> None:
    a = await serve(store, "b1", "a1")
    await store.complete("a1", a, "consultation")
    await store.rate(a, "b1", 5)
    b = await serve(store, "b2", "a2")
    await agent(store, "a3")
    await store.transfer("a2", b, reason="r", mode="warm", to_agent="a3")
    await store.accept("a3", b)
    c = await ticket(store, "b3")
    await store.leave(c, "b3")
    views = replay(f for _id, f in read_entries(await redis.xrange(key("events"))))
    for sid in (a, b, c):
        s = await store.session(sid)
        v = views[sid]
        assert (v.state, v.agent, list(v.served), v.transfers, v.rating) == (
            s["state"], s["agent"], json.loads(s["served"]), len(json.loads(s["transfers"])), s.get("rating", "")
        )
