"""The hall's rules in the queue's Redis functions: a seated ticket keeps its place, is called back
when it is next, is claimed at another booth of the hall (and offered first), or becomes no_show.
Help calls appear and clear. Real Redis, a manual clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.queue.conftest import TIMING
from window_server.domain import errors
from window_server.domain.routing import agent_pool
from window_server.hall.store import HallStore
from window_server.queue.store import QueueStore
from window_server.store.keys import key

from .conftest import Clock

SUZHOU = "320500"
HALL = "c-hall"


async def ticket(store: QueueStore, booth: str, centre: str = HALL) -> dict[str, Any]:
    res = await store.enqueue(booth=booth, intake_centre=centre, matter="m", region=SUZHOU, lang="zh",
                              priority="", source="walk_in", consent=True)
    return res.ok


def kinds(fx: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in fx if e.get("kind") == kind]


async def acts(store: QueueStore, sid: str) -> list[str]:
    return [e["act"] for e in await store.session_events(sid)]


async def test_a_seated_ticket_keeps_its_place_and_is_called_when_next(
        store: QueueStore, hall: HallStore, clock: Clock) -> None:
    a, b, c = await ticket(store, "b1"), await ticket(store, "b2"), await ticket(store, "b3")
    before = await store.session(b["sid"])
    clock.advance(1)
    res = await hall.sit_down(b["sid"], "b2")
    assert res.ok["ticket"] == b["ticket"] and res.ok["state"] == "waiting"
    s = await store.session(b["sid"])
    # the booth is free for the next citizen; the ticket keeps when it was queued and its lane
    assert await store.booth_session("b2") is None
    assert s["booth"] == "" and s["seated_booth"] == "b2" and s["enq"] == before["enq"] and s["lane"] == before["lane"]
    assert await store.redis.zscore(s["qkey"], b["sid"]) is None
    assert await hall.seated_count(HALL) == 1 and await hall.calls(HALL) == []
    assert "sit_down" in await acts(store, b["sid"])
    # one ticket ahead (a): not called yet
    tick = await store.tick()
    assert kinds(tick.fx, "ticket_called") == []
    # a leaves: b is next, so the hall calls it back
    await store.leave(a["sid"], "b1")
    tick = await store.tick()
    [called] = kinds(tick.fx, "ticket_called")
    assert called["sid"] == b["sid"] and called["ticket"] == b["ticket"] and called["centre"] == HALL
    assert called["deadline"] == clock.ms + store.timing.call_back_ms
    [call] = await hall.calls(HALL)
    assert (call.sid, call.ticket, call.deadline) == (b["sid"], b["ticket"], called["deadline"])
    assert "called" in await acts(store, b["sid"])
    # claimed at another booth of the hall: queued again in its old place, ahead of c
    clock.advance(5)
    res = await hall.claim(b["sid"], "b4", HALL)
    assert res.ok["state"] == "waiting"
    [over] = kinds(res.fx, "ticket_call_over")
    assert over["why"] == "claimed" and over["booth"] == "b4"
    assert await store.booth_session("b4") == b["sid"]
    assert (await store.session(b["sid"]))["booth"] == "b4"
    q = (await store.session(b["sid"]))["qkey"]
    assert await store.redis.zrange(q, 0, -1) == [b["sid"], c["sid"]]
    assert await hall.calls(HALL) == [] and await hall.seated_count(HALL) == 0
    assert (await acts(store, b["sid"]))[-1] == "claim_ticket"


async def test_a_claimed_ticket_is_offered_to_the_free_specialist_before_those_behind_it(
        store: QueueStore, hall: HallStore, clock: Clock) -> None:
    first = await ticket(store, "b1")
    behind = await ticket(store, "b2")
    await hall.sit_down(first["sid"], "b1")
    assert kinds((await store.tick()).fx, "ticket_called")  # nobody ahead of it
    await store.agent_login("a1", "c-serve", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    # the specialist signs in while the citizen walks back: the ticket behind is offered meanwhile
    res = await store.presence("a1", "available")
    [offer] = kinds(res.fx, "offer")
    assert offer["sid"] == behind["sid"]
    await store.decline("a1", behind["sid"])  # a1 is free again (it will not be offered behind for a while)
    assert (await store.agent("a1"))["status"] == "available"
    # the citizen touches the call at booth b3: the ticket is queued again ahead of the one behind
    claimed = await hall.claim(first["sid"], "b3", HALL)
    assert [o["sid"] for o in kinds(claimed.fx, "offer")] == [first["sid"]]
    assert claimed.ok["state"] == "offered" and claimed.ok["agent"] == "a1"
    [st] = [e for e in kinds(claimed.fx, "session") if e["sid"] == first["sid"]]
    assert st["booth"] == "b3"  # the offer's session_state goes to the booth that claimed it


async def test_a_call_not_claimed_in_time_is_a_no_show(store: QueueStore, hall: HallStore, clock: Clock) -> None:
    t = await ticket(store, "b1")
    await hall.sit_down(t["sid"], "b1")
    await store.tick()
    assert len(await hall.calls(HALL)) == 1
    clock.advance(store.timing.call_back_ms / 1000 - 1)
    assert kinds((await store.tick()).fx, "ticket_call_over") == []
    clock.advance(2)
    res = await store.tick()
    [over] = kinds(res.fx, "ticket_call_over")
    assert over["why"] == "expired" and over["sid"] == t["sid"]
    [st] = kinds(res.fx, "session")
    assert st["state"] == "no_show" and st["act"] == "no_show" and st["booth"] == ""
    assert (await store.session(t["sid"]))["state"] == "no_show"
    assert await hall.calls(HALL) == [] and await hall.seated_count(HALL) == 0
    assert t["sid"] not in await store.active_sessions()
    events = await store.session_events(t["sid"])
    assert events[-1]["by"] == "system"


async def test_refusals(store: QueueStore, hall: HallStore, clock: Clock) -> None:
    t = await ticket(store, "b1")
    other = await ticket(store, "x1", centre="c-other")
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.sit_down(t["sid"], "b9")  # another booth's session
    assert exc.value.code == "not_your_session"
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.claim(t["sid"], "b2", HALL)  # not seated, not called
    assert exc.value.code == "not_called"
    await hall.sit_down(t["sid"], "b1")
    await store.tick()
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.claim(t["sid"], "x2", "c-other")  # a booth of another hall
    assert exc.value.code == "other_hall" and exc.value.http_status == 403
    busy = await ticket(store, "b2")
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.claim(t["sid"], "b2", HALL)  # the booth serves someone else
    assert exc.value.code == "booth_busy"
    await hall.claim(t["sid"], "b1", HALL)  # back at the booth it left: fine
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.claim(t["sid"], "b3", HALL)  # claimed already
    assert exc.value.code == "not_called"
    # an offered ticket may not sit down: a specialist is being asked for it
    await store.agent_login("a1", "c-serve", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    await store.presence("a1", "available")
    offered = (await store.session(other["sid"]))["state"]
    assert offered == "offered" or (await store.session(t["sid"]))["state"] == "offered"
    sid, booth = (other["sid"], "x1") if offered == "offered" else (t["sid"], "b1")
    with pytest.raises(errors.RemoteWindowError) as exc:
        await hall.sit_down(sid, booth)
    assert exc.value.code == "not_waiting"
    assert busy["sid"]


async def test_help_calls_appear_and_clear(store: QueueStore, hall: HallStore, clock: Clock) -> None:
    t = await ticket(store, "b1")
    res = await hall.call_staff(HALL, "b1", "help", True)
    since = res.ok["since"]
    assert since == clock.ms
    clock.advance(10)
    assert (await hall.call_staff(HALL, "b1", "help", True)).ok["since"] == since  # pressing again keeps it
    await hall.call_staff(HALL, "b2", "device", True)  # a booth without a session
    calls = await hall.help_calls(HALL)
    assert [(h.booth, h.since, h.reason, h.sid) for h in calls] == [
        ("b1", since, "help", t["sid"]), ("b2", since + 10_000, "device", "")]
    await hall.call_staff(HALL, "b2", "", False)  # cancelled at the booth
    assert [h.booth for h in await hall.help_calls(HALL)] == ["b1"]
    res = await hall.staff_ack(HALL, "b1", "hall-c")
    assert res.ok == {"done": True, "sid": t["sid"]}
    assert await hall.help_calls(HALL) == []
    assert (await hall.staff_ack(HALL, "b1", "hall-c")).ok["done"] is False  # idempotent
    events = [(e["act"], e["by"]) for e in await store.session_events(t["sid"])]
    assert ("call_staff", "booth:b1") in events and ("call_staff_done", "hall-c") in events
    assert await store.redis.exists(key("hall_help", centre=HALL)) == 0


async def test_the_look_ahead_calls_a_seated_ticket_earlier(redis: Any, clock: Clock) -> None:
    """RW_CALL_AHEAD=2: called back while one ticket is still ahead of it (the walk back takes time)."""
    store = QueueStore(redis, replace(TIMING, call_ahead=2), clock)
    await store.load()
    hall = HallStore(redis, store)
    await ticket(store, "b1")
    clock.advance(0.001)
    await ticket(store, "b2")
    clock.advance(0.001)
    third = await ticket(store, "b3")
    await hall.sit_down(third["sid"], "b3")
    assert kinds((await store.tick()).fx, "ticket_called") == []  # two ahead
    first_sid = (await store.redis.zrange((await store.session(third["sid"]))["qkey"], 0, 0))[0]
    await store.leave(first_sid, "b1")
    [called] = kinds((await store.tick()).fx, "ticket_called")  # one ahead: called
    assert called["sid"] == third["sid"]
