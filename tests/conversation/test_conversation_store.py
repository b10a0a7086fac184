"""The conversation's queue rules against a real Redis: who may write, the hang-up from each state.

Issue 18 (helper C). ``rw_chat`` keeps a message and its annotation in one call; ``rw_hang_up``
ends a held session for the citizen (completed, outcome ''), ending a transfer in flight and
sending the specialist to wrap-up.
"""

from __future__ import annotations

import json

import pytest

from tests.oracle.replay import replay
from tests.queue.conftest import Clock, clock, store  # noqa: F401  (fixtures)
from tests.queue.test_queue_store import agent, expect_error, ticket
from window_server.domain.metrics import compute_kpis
from window_server.queue.store import QueueStore
from window_server.store.events import read_entries
from window_server.store.keys import key


async def held(store: QueueStore, booth: str = "b1", aid: str = "a1") -> str:  # noqa: F811
    sid = await ticket(store, booth)
    offered = await agent(store, aid)
    assert offered["offer"] == sid
    await store.accept(aid, sid)
    return sid


async def test_the_booth_and_the_holder_write_others_may_not(store: QueueStore) -> None:  # noqa: F811
    sid = await held(store)
    first = await store.chat(sid, "agent", "a1", "请出示身份证", cap=10)
    second = await store.chat(sid, "booth", "b1", "听不清", "cant_hear", cap=10)
    assert first.ok["id"] == 1 and first.ok["from"] == "agent" and first.ok["booth"] == "b1"
    assert second.ok["id"] == 2 and second.ok["quick"] == "cant_hear" and second.ok["agent"] == "a1"
    assert [m["text"] for m in await store.chat_log(sid)] == ["请出示身份证", "听不清"]
    await expect_error("not_member", store.chat(sid, "booth", "b2", "hi", cap=10))
    await expect_error("not_member", store.chat(sid, "agent", "a2", "hi", cap=10))
    await expect_error("unknown_session", store.chat("RW20990101000001", "agent", "a1", "hi", cap=10))
    await expect_error("chat_full", store.chat(sid, "agent", "a1", "third", cap=2))
    # the annotations carry ids, never the words
    events = [e for e in await store.session_events(sid) if e["act"] == "chat"]
    assert [(e["chat_id"], e["party"], e["quick"], e["by"]) for e in events] == [
        ("1", "agent", "", "a1"), ("2", "booth", "cant_hear", "booth:b1")]
    assert all("听不清" not in json.dumps(e, ensure_ascii=False) for e in events)


async def test_no_chat_before_a_specialist_holds_it_or_after_it_ended(store: QueueStore) -> None:  # noqa: F811
    sid = await ticket(store, "b1")
    await expect_error("illegal_transition", store.chat(sid, "booth", "b1", "有人吗", cap=10))
    await agent(store, "a1")
    await store.accept("a1", sid)
    await store.complete("a1", sid, "consultation")
    await expect_error("illegal_transition", store.chat(sid, "agent", "a1", "再见", cap=10))
    await expect_error("illegal_transition", store.chat(sid, "booth", "b1", "再见", cap=10))


async def assert_hung_up(store: QueueStore, sid: str, aid: str) -> None:  # noqa: F811
    s = await store.session(sid)
    assert (s["state"], s["outcome"]) == ("completed", "")
    assert await store.redis.zscore(key("rating_window"), sid) is not None
    a = await store.agent(aid)
    assert (a["status"], a["session"], a.get("reserve", "")) == ("wrap_up", "", "")
    assert await store.booth_session(s["booth"]) == sid  # it may still be rated at the booth
    assert replay(await all_events(store))[sid].state == "completed"


async def all_events(store: QueueStore) -> list[dict[str, str]]:  # noqa: F811
    return [ev for _id, ev in read_entries(await store.redis.xrange(key("events")))]


async def test_hang_up_in_service_completes_without_outcome(store: QueueStore) -> None:  # noqa: F811
    sid = await held(store)
    res = await store.hang_up(sid, "b1")
    assert res.ok == {"sid": sid, "state": "completed"}
    [fx] = [e for e in res.fx if e["kind"] == "session"]
    assert (fx["act"], fx["agent"], fx["booth"]) == ("hang_up", "a1", "b1") and "outcome" not in fx
    await assert_hung_up(store, sid, "a1")
    assert (await store.rate(sid, "b1", 4)).ok["state"] == "rated"
    kpis = compute_kpis(await all_events(store), t_answer_s=20, s_short_s=5)
    assert (kpis.completed, kpis.ratings, kpis.handled) == (1, 1, 1)


async def test_hang_up_during_a_transfer_ends_it_and_frees_the_target(store: QueueStore) -> None:  # noqa: F811
    sid = await held(store)
    await agent(store, "a2")
    await store.transfer("a1", sid, reason="需要同事", mode="warm", to_agent="a2")
    assert (await store.session(sid))["offer_agent"] == "a2"
    res = await store.hang_up(sid, "b1")
    [fx] = [e for e in res.fx if e["kind"] == "session"]
    assert (fx["act"], fx["agent"], fx["to_agent"]) == ("hang_up", "a1", "a2")
    await assert_hung_up(store, sid, "a1")
    s = await store.session(sid)
    assert (s["xfer"], s["offer_agent"]) == ("", "")
    assert json.loads(s["transfers"])[-1]["result"] == "hang_up"
    assert (await store.agent("a2"))["status"] == "available"
    assert await store.redis.zscore(key("transfer_deadlines"), sid) is None


async def test_hang_up_while_reconnecting_stops_the_grace(store: QueueStore, clock: Clock) -> None:  # noqa: F811
    sid = await held(store)
    await store.media(sid, "agent", "lost")
    assert (await store.session(sid))["state"] == "reconnecting"
    await store.hang_up(sid, "b1")
    await assert_hung_up(store, sid, "a1")
    assert await store.redis.zscore(key("grace"), sid) is None
    clock.advance(120)
    await store.tick()  # the grace that would have run out changes nothing
    assert (await store.session(sid))["state"] == "completed"


@pytest.mark.parametrize("where", ["waiting", "offered", "completed"])
async def test_hang_up_is_refused_outside_a_call(store: QueueStore, where: str) -> None:  # noqa: F811
    sid = await ticket(store, "b1")
    if where != "waiting":
        await agent(store, "a1")
    if where == "completed":
        await store.accept("a1", sid)
        await store.complete("a1", sid, "consultation")
    err = await expect_error("illegal_transition", store.hang_up(sid, "b1"))
    assert err.state == where  # type: ignore[attr-defined]


async def test_only_the_sessions_booth_hangs_up(store: QueueStore) -> None:  # noqa: F811
    sid = await held(store)
    await expect_error("not_your_session", store.hang_up(sid, "b2"))
    assert (await store.session(sid))["state"] == "in_service"


async def test_retention_deletes_the_chat_with_the_notes(store: QueueStore) -> None:  # noqa: F811
    sid = await held(store)
    await store.chat(sid, "agent", "a1", "请出示身份证", cap=10)
    await store.complete("a1", sid, "consultation")
    await store.rate(sid, "b1", 5)
    await store.call("rw_materials_purge", sid=sid, by="system", why="retention")
    assert await store.chat_log(sid) == []
    assert [e["act"] for e in await store.session_events(sid)].count("chat") == 1  # the audit trail stays
