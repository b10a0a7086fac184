"""Retention covers every way a session ends, and the rating window closes unrated sessions.

The queue's real Lua functions on the session's Redis, a manual clock, real files: each terminal
state (rated, no-show, interrupted, abandoned, completed and never rated) is walked through the
purge, and a completed session whose rating may still come is kept.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.queue.conftest import TIMING, Clock
from window_server.domain import errors
from window_server.domain.routing import PoolEntry, Tier
from window_server.materials.purge import purge_materials
from window_server.materials.store import MaterialStore, new_material_id
from window_server.queue.store import QueueStore
from window_server.store.blobs import FileBlobStore
from window_server.store.keys import key

HOUR_MS = 3_600_000
RATING = dataclasses.replace(TIMING, rating_ms=HOUR_MS)
REGION = "310000"
ID_AND_PHONE = "张三丰 / 310101199001011234 / 13800138000"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(redis: Redis, clock: Clock) -> QueueStore:
    s = QueueStore(redis, RATING, clock)
    await s.load()
    return s


async def _held(s: QueueStore, booth: str) -> tuple[str, str]:
    """A session of ``booth`` in service; returns (sid, specialist)."""
    res = await s.enqueue(booth=booth, intake_centre="c0", matter="m", region=REGION, lang="zh", priority="",
                          source="walk_in", consent=True)
    sid, aid = str(res.ok["sid"]), str(res.ok["agent"])
    if not aid:
        aid = f"a-{booth}"
        await s.agent_login(aid, "c1", (PoolEntry(REGION, Tier.OWN),), ("zh",))
        assert (await s.presence(aid, "available")).ok["offer"] == sid
    await s.accept(aid, sid)
    return sid, aid


async def _still(ms: MaterialStore, blobs: FileBlobStore, sid: str, booth: str, seed: int) -> str:
    sha = await blobs.put(bytes([seed]) * 64)
    record = {"id": new_material_id(), "sid": sid, "kind": "id_card", "sha256": sha, "reasons": [], "request": None}
    await ms.add(sid, record, role="booth", subject=booth, by=booth, event={"kind": "id_card"}, now=ms.now_ms())
    return sha


async def test_rating_window_closes_and_the_session_leaves_the_active_set(store: QueueStore, clock: Clock) -> None:
    sid, aid = await _held(store, "b1")
    await store.complete(aid, sid, "consultation")
    assert await store.redis.sismember(key("active"), sid)  # a rating may still come
    assert await store.booth_session("b1") == sid
    clock.advance(HOUR_MS / 1000 - 1)
    await store.tick()
    assert await store.redis.sismember(key("active"), sid)
    clock.advance(1)
    with pytest.raises(errors.Conflict) as late:  # due, even before the ticker has run
        await store.rate(sid, "b1", 5)
    assert late.value.code == "rating_closed"
    await store.tick()
    assert not await store.redis.sismember(key("active"), sid)
    assert await store.booth_session("b1") is None  # the booth no longer has it open
    assert (await store.session(sid))["state"] == "completed"
    assert [e["act"] for e in await store.session_events(sid)][-1] == "rating_closed"
    with pytest.raises(errors.Conflict) as closed:
        await store.rate(sid, "b1", 5)
    assert closed.value.code == "rating_closed"

    other, aid2 = await _held(store, "b2")  # rated in time: the timer goes with the rating
    await store.complete(aid2, other, "consultation")
    await store.rate(other, "b2", 4)
    assert await store.redis.zscore(key("rating_window"), other) is None
    assert not await store.redis.sismember(key("active"), other)


async def test_sessions_completed_before_the_window_existed_get_one_at_start(store: QueueStore) -> None:
    sid, aid = await _held(store, "b1")
    await store.complete(aid, sid, "consultation")
    await store.redis.zrem(key("rating_window"), sid)  # as completed by a version without the window
    ended = int((await store.session(sid))["ended"])
    assert await store.open_rating_windows() == 1
    assert await store.redis.zscore(key("rating_window"), sid) == ended + HOUR_MS
    assert await store.open_rating_windows() == 0


async def test_every_terminal_state_is_purged_with_its_free_text(
    store: QueueStore, clock: Clock, tmp_path: Path
) -> None:
    ms, blobs = MaterialStore(store), FileBlobStore(tmp_path / "materials")
    shas: dict[str, str] = {}

    rated, a = await _held(store, "b-rated")
    shas[rated] = await _still(ms, blobs, rated, "b-rated", 1)
    await store.annotate(a, rated, "note", text=ID_AND_PHONE)
    await store.complete(a, rated, "consultation")
    await store.rate(rated, "b-rated", 1, ID_AND_PHONE)

    no_show, a = await _held(store, "b-noshow")
    shas[no_show] = await _still(ms, blobs, no_show, "b-noshow", 2)
    await store.no_show(a, no_show, "叫号三次 13800138000 未接")

    interrupted, a = await _held(store, "b-gone")
    shas[interrupted] = await _still(ms, blobs, interrupted, "b-gone", 3)
    await store.media(interrupted, "booth", "lost")
    clock.advance(RATING.grace_ms / 1000)
    await store.tick()

    res = await store.enqueue(booth="b-left", intake_centre="c0", matter="m", region=REGION, lang="zh",
                              priority="", source="walk_in", consent=True)
    abandoned = str(res.ok["sid"])
    await store.leave(abandoned, "b-left", "等太久了，电话13800138000")

    unrated, a = await _held(store, "b-unrated")
    shas[unrated] = await _still(ms, blobs, unrated, "b-unrated", 4)
    await store.agent_login("x", "c1", (PoolEntry(REGION, Tier.OWN),), ("zh",))
    await store.presence("x", "available")
    await store.transfer(a, unrated, reason="转省级 " + ID_AND_PHONE, mode="warm", to_agent="x")
    await store.decline("x", unrated, "不是我的 " + ID_AND_PHONE)
    await store.complete(a, unrated, "consultation")
    clock.advance(HOUR_MS / 1000)
    await store.tick()  # its rating window closes unrated

    pending, a = await _held(store, "b-pending")  # completed just now: a rating may still come
    shas[pending] = await _still(ms, blobs, pending, "b-pending", 5)
    await store.complete(a, pending, "consultation")

    states = {sid: (await store.session(sid))["state"]
              for sid in (rated, no_show, interrupted, abandoned, unrated, pending)}
    assert list(states.values()) == ["rated", "no_show", "interrupted", "abandoned", "completed", "completed"]

    clock.advance(15 * 60)  # past a retention of 0.01 days (14.4 min) for all but `pending`
    report = await purge_materials(ms, blobs, now_ms=store.now_ms(), retention_days=0.01)
    gone = sorted([rated, no_show, interrupted, abandoned, unrated])
    assert sorted(report.sessions) == gone and report.materials == 4 and report.blobs == 4
    for sid in gone:
        assert await ms.list(sid) == []
        assert await store.notes(sid) == []
        s = await store.session(sid)
        assert s.get("rating_comment", "") == "" and "138" not in s["transfers"] and "3101" not in s["transfers"]
        events = await store.session_events(sid)
        assert events[-1]["act"] == "materials_purged"
        assert all(e["why"] == "" for e in events[:-1]), events  # who did what and when stays
        assert [e["act"] for e in events if e["act"] not in ("widen",)][:1] == ["enqueue"]
        if sid in shas:
            assert not await blobs.exists(shas[sid])
    assert len(await ms.list(pending)) == 1 and await blobs.exists(shas[pending])

    again = await purge_materials(ms, blobs, now_ms=store.now_ms(), retention_days=0.01)
    assert again.sessions == []  # each is purged once
