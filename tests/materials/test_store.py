"""The materials' Redis functions and the blob store, without HTTP: atomic, validated, durable."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.queue.conftest import TIMING, Clock
from window_server.domain import errors
from window_server.domain.routing import PoolEntry, Tier
from window_server.materials.purge import main as purge_main
from window_server.materials.purge import purge_materials
from window_server.materials.store import MaterialStore, new_material_id, new_request_id
from window_server.queue.store import QueueStore
from window_server.store.blobs import BlobMissing, FileBlobStore, sha256_hex
from window_server.store.keys import key


@pytest.fixture
async def ms(redis: Redis) -> MaterialStore:
    store = QueueStore(redis, TIMING, Clock())
    await store.load()
    return MaterialStore(store)


async def _held(ms: MaterialStore) -> str:
    s = ms.store
    await s.agent_login("a1", "c1", (PoolEntry("310000", Tier.OWN),), ("zh",))
    res = await s.enqueue(booth="b1", intake_centre="c0", matter="m", region="310000", lang="zh", priority="",
                          source="walk_in", consent=True)
    sid = res.ok["sid"]
    assert (await s.presence("a1", "available")).ok["offer"] == sid
    await s.accept("a1", sid)
    return str(sid)


def _record(sid: str) -> dict[str, object]:
    return {"id": new_material_id(), "sid": sid, "kind": "other", "reasons": [], "request": None}


async def _add(ms: MaterialStore, sid: str, role: str, subject: str) -> None:
    await ms.add(sid, _record(sid), role=role, subject=subject, by=subject, event={"kind": "other"},
                 now=ms.now_ms())


async def test_add_checks_membership_and_state_before_writing(ms: MaterialStore) -> None:
    sid = await _held(ms)
    for role, subject in (("booth", "b2"), ("agent", "a2"), ("manager", "a1"), ("booth", "")):
        with pytest.raises(errors.Forbidden) as info:
            await _add(ms, sid, role, subject)
        assert info.value.code == "not_member"
    await _add(ms, sid, "booth", "b1")
    await _add(ms, sid, "agent", "a1")
    assert len(await ms.list(sid)) == 2
    await ms.redis.hset(key("session", sid=sid), "state", "completed")
    with pytest.raises(errors.Conflict) as conflict:
        await _add(ms, sid, "booth", "b1")
    assert conflict.value.code == "illegal_transition"
    with pytest.raises(errors.NotFound):
        await _add(ms, "RW-none", "booth", "b1")
    events = [e for e in await ms.store.session_events(sid) if e["act"] == "material_added"]
    assert len(events) == 2 and len(await ms.list(sid)) == 2  # the refusals left nothing


async def test_verdicts_replace_each_other_and_each_is_an_event(ms: MaterialStore) -> None:
    sid = await _held(ms)
    rec = _record(sid)
    await ms.add(sid, rec, role="booth", subject="b1", by="booth:b1", event={}, now=ms.now_ms())
    mid = str(rec["id"])
    await ms.verdict(sid, "a1", mid, "rejected", "glare")
    await ms.verdict(sid, "a1", mid, "accepted", "")
    got = await ms.get(sid, mid)
    assert got is not None and got["review"]["verdict"] == "accepted" and got["reasons"] == []
    assert [e["verdict"] for e in await ms.store.session_events(sid) if e["act"] == "verdict"] == \
        ["rejected", "accepted"]
    with pytest.raises(errors.Forbidden):
        await ms.verdict(sid, "a2", mid, "accepted", "")
    with pytest.raises(errors.NotFound) as missing:
        await ms.verdict(sid, "a1", new_material_id(), "accepted", "")
    assert missing.value.code == "unknown_material"


async def test_capture_needs_the_device_online_and_purge_waits_for_the_end(ms: MaterialStore) -> None:
    sid = await _held(ms)
    with pytest.raises(errors.Conflict) as absent:
        await ms.capture(sid, "a1", new_request_id(), "other", "main")
    assert absent.value.code == "peer_absent"
    await ms.redis.hset(key("device", booth="b1"), "online", "1")
    rid = new_request_id()
    await ms.capture(sid, "a1", rid, "other", "main")
    assert (await ms.capture_request(sid, rid) or {})["by"] == "a1"
    await _add(ms, sid, "booth", "b1")
    with pytest.raises(errors.Conflict):
        await ms.purge(sid)  # still open
    await ms.redis.srem(key("active"), sid)
    assert (await ms.purge(sid, why="retention")).ok == {"count": 1}
    assert await ms.list(sid) == [] and await ms.capture_request(sid, rid) is None
    [purged] = [e for e in await ms.store.session_events(sid) if e["act"] == "materials_purged"]
    assert purged["count"] == "1" and purged["why"] == "retention"
    assert json.dumps(await ms.store.session_events(sid)).count("material_added") == 1  # the trail stays


# --- the blob store -----------------------------------------------------------------------------


async def test_put_is_content_addressed_atomic_and_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[tuple[bool, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:  # the real fsync, watched: which inode, file or directory
        st = os.fstat(fd)
        synced.append((stat.S_ISDIR(st.st_mode), st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    blobs = FileBlobStore(tmp_path / "materials")
    data = b"\xff\xd8\xff" + os.urandom(5000)
    sha = await blobs.put(data)
    path = blobs.path(sha)
    assert sha == sha256_hex(data) and path.read_bytes() == data
    assert path.relative_to(tmp_path / "materials").parts == (sha[:2], sha[2:4], sha)
    assert (False, path.stat().st_ino) in synced  # the file's own bytes
    assert (True, path.parent.stat().st_ino) in synced  # the rename, in its directory
    assert (True, (tmp_path / "materials").stat().st_ino) in synced  # a new directory's entry
    assert list(path.parent.glob(".tmp-*")) == []
    synced.clear()
    assert await blobs.put(data) == sha and synced == []  # the same bytes are stored once
    assert await blobs.get(sha) == data and await blobs.exists(sha)
    assert list(blobs.shas()) == [sha]
    assert await blobs.delete(sha) and not await blobs.exists(sha)
    with pytest.raises(BlobMissing):
        await blobs.get(sha)


# --- retention --------------------------------------------------------------------------------


async def test_purge_deletes_what_is_past_retention_and_keeps_shared_files(
    ms: MaterialStore, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blobs = FileBlobStore(tmp_path / "materials")
    now = ms.now_ms()
    shared, own_old, own_new, orphan = [await blobs.put(bytes([i]) * 100) for i in range(4)]
    sids = []
    for i, (ended_days_ago, shas) in enumerate(((200, [shared, own_old]), (10, [shared, own_new]))):
        sid = f"RWTEST{i}"
        sids.append(sid)
        await ms.redis.hset(key("session", sid=sid), mapping={"sid": sid, "state": "completed",
                                                               "ended": str(now - ended_days_ago * 86_400_000)})
        for sha in shas:
            mid = new_material_id()
            await ms.redis.hset(key("materials", sid=sid), mid, json.dumps({"id": mid, "sha256": sha}))
    old_time = time.time() - 2 * 86_400
    os.utime(blobs.path(orphan), (old_time, old_time))

    dry = await purge_materials(ms, blobs, now_ms=now, retention_days=180, dry_run=True)
    assert (dry.sessions, dry.materials, dry.blobs, dry.orphans) == ([sids[0]], 2, 1, 1)
    assert len(list(blobs.shas())) == 4  # a dry run deletes nothing

    report = await purge_materials(ms, blobs, now_ms=now, retention_days=180)
    assert (report.sessions, report.materials, report.blobs, report.orphans) == ([sids[0]], 2, 1, 1)
    assert sorted(blobs.shas()) == sorted([shared, own_new])  # the shared still is kept for the newer one
    assert await ms.list(sids[0]) == [] and len(await ms.list(sids[1])) == 2
    assert [e["act"] for e in await ms.store.session_events(sids[0])] == ["materials_purged"]

    # the command runs on the real clock
    await ms.redis.hset(key("session", sid=sids[1]), "ended", str(int((time.time() - 10 * 86_400) * 1000)))
    argv = ["--redis-url", redis_url, "--data-dir", str(tmp_path), "--days", "5", "--dry-run"]
    assert await asyncio.to_thread(purge_main, argv) == 0
    assert "would delete 2 materials of 1 sessions" in capsys.readouterr().out


async def test_a_recognition_lands_once_and_judges_the_sides_again_if_another_landed(ms: MaterialStore) -> None:
    sid = await _held(ms)
    first, second = ({**_record(sid), "class": None, "verdict": "accepted"} for _ in range(2))
    for rec in (first, second):
        await ms.add(sid, rec, role="booth", subject="b1", by="b1", event={"kind": "other"}, now=ms.now_ms())
    assert set(await ms.pending(before_ms=ms.now_ms() + 1)) == {(sid, first["id"]), (sid, second["id"])}

    def landed(rec: dict[str, object], cls: str) -> dict[str, object]:
        return {**rec, "class": cls, "recognition": {"class": cls}}

    event = {"kind": "other", "class": "id_card_front", "verdict": "accepted", "reasons": ""}
    private = {"id_number": "310101199001011234"}
    # the second was judged while the first was pending: when the first lands meanwhile, judge again
    res = await ms.recognised(sid, landed(first, "id_card_front"), private=private, pending=[second["id"]],
                              event=event, now=ms.now_ms())
    assert res.ok == {"done": True, "booth": "b1", "agent": "a1"}
    res = await ms.recognised(sid, landed(second, "id_card_back"), private=None, pending=[first["id"]],
                              event=event, now=ms.now_ms())
    assert res.ok == {"done": False, "retry": True}
    assert json.loads((await ms.records(sid))[second["id"]])["class"] is None  # nothing written
    res = await ms.recognised(sid, landed(second, "id_card_back"), private=None, pending=[], event=event,
                              now=ms.now_ms())
    assert res.ok["done"] is True
    # a second landing of the same still changes nothing (two nodes, or a sweep after a slow one)
    res = await ms.recognised(sid, landed(first, "page"), private=None, pending=[], event=event, now=ms.now_ms())
    assert res.ok == {"done": False}
    records = {k: json.loads(v) for k, v in (await ms.records(sid)).items()}
    assert (records[first["id"]]["class"], records[second["id"]]["class"]) == ("id_card_front", "id_card_back")
    assert await ms.private(sid) == {first["id"]: private}
    assert await ms.pending(before_ms=ms.now_ms() + 1) == ()
    events = [e for e in await ms.store.session_events(sid) if e["act"] == "recognised"]
    assert [e["material"] for e in events] == [first["id"], second["id"]]
    # the purge forgets what was read with the records
    await ms.store.complete("a1", sid, "consultation")
    await ms.store.rate(sid, "b1", 5)
    await ms.purge(sid)
    assert await ms.private(sid) == {}
