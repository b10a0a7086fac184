"""Recording over HTTP: segments, chunks acknowledged once durable and chained, playback, access log."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import av

from window_server.appkeys import ACCESS, ACCOUNTS, REDIS, SETTINGS, STORE
from window_server.domain.auth import Role
from window_server.evidence.chain import chain_problems
from window_server.evidence.store import EvidenceStore

from .conftest import Env


async def _post(env: Env, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with env.srv.http.post(f"{env.url}/api/sessions/{env.sid}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _put(env: Env, n: int, seq: int, data: bytes, t: int, headers: dict[str, str] | None = None,
               sid: str | None = None) -> tuple[int, Any]:
    h = {"Content-Type": "video/webm", **(headers if headers is not None else env.booth_headers())}
    url = f"{env.url}/api/sessions/{sid or env.sid}/recording/segments/{n}/chunks/{seq}"
    async with env.srv.http.put(url, params={"t": str(t)}, data=data, headers=h) as resp:
        return resp.status, await resp.json()


async def _segment(env: Env) -> dict[str, Any]:
    status, body = await _post(env, "/recording/segments", {"mime": "video/webm;codecs=vp8,opus",
                                                            "width": 1280, "height": 720}, env.booth_headers())
    assert status == 201, body
    segment: dict[str, Any] = body["segment"]
    return segment


async def test_a_recorded_leg_is_stored_chained_and_plays_back_seekable(env: Env, chunks: list[bytes]) -> None:
    segment = await _segment(env)
    assert segment["n"] == 0
    assert {"role": "booth", "id": env.booth} in segment["present"]
    assert any(p["role"] == "specialist" and p["id"] == env.agent for p in segment["present"])
    for seq, data in enumerate(chunks):
        status, body = await _put(env, 0, seq, data, t=(seq + 1) * 1000)
        assert status == 201, body
        assert body == {"seq": seq, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        stored = Path(env.app[SETTINGS].data_dir) / "recordings" / body["sha256"][:2] / body["sha256"][2:4] / body["sha256"]
        assert stored.read_bytes() == data  # on disk under its SHA-256 before the answer
    # a repeat (a retry after a lost answer) is the same answer; other bytes for that place are refused
    assert await _put(env, 0, 1, chunks[1], t=2000) == (200, {"seq": 1, "sha256": hashlib.sha256(chunks[1]).hexdigest(),
                                                              "size": len(chunks[1])})
    status, body = await _put(env, 0, 1, chunks[1] + b"x", t=2000)
    assert (status, body["error"]["code"]) == (409, "chunk_conflict")
    status, _ = await _post(env, "/recording/segments/0/end", {"chunks": 3, "t": 3000}, env.booth_headers())
    assert status == 200

    chain = await EvidenceStore(env.app[REDIS]).chain(env.sid)
    assert [(e["kind"], e["ref"]) for e in chain] == [("chunk", "seg0/0"), ("chunk", "seg0/1"), ("chunk", "seg0/2")]
    assert [e["sha256"] for e in chain] == [hashlib.sha256(c).hexdigest() for c in chunks]
    assert chain_problems(chain) == []

    status, view, _ = await env.get("/recording", env.cookie(env.agent_cookie))
    assert status == 200, view
    seg = view["recording"]["segments"][0]
    assert (seg["chunks"], seg["complete"], seg["gaps"], seg["duration_ms"]) == (3, True, [], 3000)
    assert any(e["act"] == "accept" for e in view["events"])

    status, data, headers = await env.get(seg["url"].split(env.sid, 1)[1], env.cookie(env.agent_cookie))
    assert status == 200 and headers["Content-Type"] == "video/webm"
    with av.open(io.BytesIO(data)) as played:
        assert sorted(s.type for s in played.streams) == ["audio", "video"]
        assert played.duration and played.duration > 0  # the remux wrote a duration (and cues): it seeks
    async with env.srv.http.get(f"{env.url}{seg['url']}", headers={**env.cookie(env.agent_cookie),
                                                                   "Range": "bytes=100-199"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 100


async def test_only_members_upload_and_only_staff_who_served_or_manage_play(env: Env, chunks: list[bytes]) -> None:
    await _segment(env)
    _rec, token2 = await env.app[ACCOUNTS].add_booth("bth-rec-9", env.demo["intake_centre"])
    stranger = env.cookie(await env.staff("spec-rec-x", Role.SPECIALIST, env.demo["home_centre"]))
    status, body = await _put(env, 0, 0, chunks[0], t=1000, headers=env.booth_headers("bth-rec-9", token2))
    assert (status, body["error"]["code"]) == (403, "not_member")
    status, body = await _put(env, 0, 0, chunks[0], t=1000, headers=stranger)
    assert (status, body["error"]["code"]) == (403, "not_member")
    assert (await _put(env, 0, 0, chunks[0], t=1000))[0] == 201

    url = "/recording/segments/0.webm"
    manager = env.cookie(await env.staff("mgr-rec", Role.MANAGER, env.demo["intake_centre"]))
    assert (await env.get(url, manager))[0] == 200
    for who in (stranger, env.booth_headers()):
        status, body, _ = await env.get(url, who)
        assert status in (401, 403), body
    log = await env.app[ACCESS].by_session(env.sid)
    assert [(e["who"], e["action"], e["allowed"]) for e in reversed(log)] == [
        ("mgr-rec", "recording", True), ("spec-rec-x", "recording", False), ("-", "recording", False)]
    assert (await env.app[ACCESS].by_person("spec-rec-x"))[0]["code"] == "not_member"


async def test_a_chunk_that_cannot_be_written_is_not_acknowledged_and_the_recording_is_failed(
        env: Env, chunks: list[bytes]) -> None:
    await _segment(env)
    assert (await _put(env, 0, 0, chunks[0], t=1000))[0] == 201
    root = Path(env.app[SETTINGS].data_dir) / "recordings"
    blocked = root / hashlib.sha256(chunks[1]).hexdigest()[:2]
    blocked.write_bytes(b"")  # a file where the chunk's directory must go: the write fails (EEXIST/ENOTDIR)
    status, body = await _put(env, 0, 1, chunks[1], t=2000)
    assert (status, body["error"]["code"]) == (507, "recording_unavailable")
    status, view, _ = await env.get("/recording", env.cookie(env.agent_cookie))
    assert view["recording"]["state"] == "failed" and view["recording"]["error"]
    async with env.srv.http.get(f"{env.url}/api/recordings", params={"status": "incomplete"},
                                headers=env.cookie(env.agent_cookie)) as resp:
        assert [r["sid"] for r in (await resp.json())["recordings"]] == [env.sid]


async def test_no_segment_without_a_held_session(env: Env) -> None:
    await env.app[STORE].complete(env.agent, env.sid, outcome="consulted")
    status, body = await _post(env, "/recording/segments", {"mime": "video/webm", "width": 640, "height": 360},
                               env.booth_headers())
    assert (status, body["error"]["code"]) == (409, "illegal_transition")


async def test_still_and_pdf_views_are_in_the_access_log_refusals_too(env: Env) -> None:
    stranger = env.cookie(await env.staff("spec-acc-x", Role.SPECIALIST, env.demo["home_centre"]))
    status, body, _ = await env.get("/materials/m0000000000000000/thumb", env.cookie(env.agent_cookie))
    assert status == 404  # no such material: a refusal, logged
    status, body, _ = await env.get("/materials.pdf", stranger)
    assert status == 403
    log = await env.app[ACCESS].by_session(env.sid)
    assert [(e["who"], e["action"], e["allowed"], e["code"]) for e in reversed(log)] == [
        (env.agent, "still", False, "unknown_material"), ("spec-acc-x", "pdf", False, "not_member")]
