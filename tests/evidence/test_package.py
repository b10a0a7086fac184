"""Seal, export and verify: a sealed session's package verifies, and every kind of change is caught."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from window_server.appkeys import ACCESS, STORE
from window_server.domain.auth import Role
from window_server.evidence.chain import chain_problems
from window_server.evidence.keys import read_public_key, write_new_key
from window_server.evidence.store import EvidenceStore
from window_server.evidence.verify import verify_package
from window_server.http.evidence import EVIDENCE

from .conftest import Ended, Env

SEAL_TIME = ["facts", "events", "materials", "notes", "recording", "still", "still", "still", "still", "still",
             "still", "pdf", "summary"]


async def download(env: Env, sid: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    async with env.srv.http.get(f"{env.url}/api/sessions/{sid}/evidence", headers=headers) as resp:
        return resp.status, await resp.read(), dict(resp.headers)


async def sealed_package(ended: Ended, tmp_path: Path) -> Path:
    env = ended.env
    sealer = env.app[EVIDENCE].sealer
    assert await sealer.seal_due() == 1  # the session ended; the grace is 0 here
    status, body, headers = await download(env, ended.sid, env.cookie(env.agent_cookie))
    assert status == 200, body[:300]
    assert headers["Content-Type"] == "application/zip"
    out = tmp_path / "package.zip"
    out.write_bytes(body)
    return out


def rewrite(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None] = lambda n, b: b,
            add: dict[str, bytes] | None = None) -> Path:
    """Copy a zip, changing (or, for None, dropping) members, as someone editing the package would."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def flip(data: bytes, at: float = 0.5) -> bytes:
    i = min(len(data) - 1, int(len(data) * at))
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


async def test_an_ended_session_is_sealed_and_its_package_verifies(ended: Ended, seal_key_file: Path,
                                                                  tmp_path: Path) -> None:
    path = await sealed_package(ended, tmp_path)
    report = verify_package(path, read_public_key(seal_key_file))
    assert report.ok, report.problems
    assert report.lines()[0] == "OK"

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        facts = json.loads(zf.read("facts.json"))
        summary = zf.read("summary.html").decode()
        chunks = [zf.read(f"recording/seg0/{i}.webm") for i in range(3)]
        events = [json.loads(line) for line in zf.read("events.jsonl").splitlines()]
    assert chunks == ended.chunks  # the chunks as uploaded, byte for byte
    # the chain: the chunks chained live, then the seal-time items; the seal covers all of it
    assert [e["kind"] for e in manifest["chain"]] == ["chunk"] * 3 + SEAL_TIME
    assert chain_problems(manifest["chain"]) == []
    assert manifest["seal"]["count"] == len(manifest["chain"]) and manifest["seal"]["sid"] == ended.sid
    assert names[0] == "manifest.json"
    assert set(names) == {"manifest.json", *(i["path"] for i in manifest["items"])}
    first = ended.stills[0]["id"]
    assert {f"stills/{first}/original.jpg", f"stills/{first}/corrected.jpg", f"stills/{first}/thumb.jpg",
            "materials.pdf", "notes.json", "materials.json", "recording.json"} <= set(names)
    assert manifest["facts"] == facts
    assert (facts["state"], facts["outcome"], facts["rating"]) == ("rated", "consultation", 5)
    assert facts["parties"]["specialists"] == [{"id": ended.env.agent, "centre": ended.env.demo["home_centre"]}]
    assert facts["times"]["ended"] and facts["times"]["created"]
    assert [e["act"] for e in events if e.get("act") in ("accept", "complete", "rate")] == ["accept", "complete", "rate"]
    assert "会话 Session" in summary and ended.sid in summary and "录音录像 Recording" in summary
    assert "通过 accepted" in summary and "退回 rejected" in summary
    # the chain in Redis is the one sealed
    stored = await EvidenceStore(ended.env.app[ACCESS].redis).chain(ended.sid)
    assert stored == manifest["chain"]


async def test_each_kind_of_change_is_caught(ended: Ended, seal_key_file: Path, tmp_path: Path) -> None:
    path = await sealed_package(ended, tmp_path)
    public = read_public_key(seal_key_file)
    first = ended.stills[0]["id"]
    members = ["facts.json", "events.jsonl", "materials.json", "notes.json", "recording.json",
               f"stills/{first}/original.jpg", f"stills/{first}/corrected.jpg", "recording/seg0/1.webm",
               "materials.pdf", "summary.html"]
    for name in members:  # one byte changed, the zip written anew (its CRCs right): the hash tells
        bad = rewrite(path, tmp_path / "bad.zip", lambda n, b, name=name: flip(b) if n == name else b)
        assert verify_package(bad, public).lines() == [f"changed: {name}"], name
    for at in (0.01, 0.2, 0.35, 0.5, 0.65, 0.8, 0.97):  # the manifest, anywhere
        bad = rewrite(path, tmp_path / "bad.zip", lambda n, b, at=at: flip(b, at) if n == "manifest.json" else b)
        lines = verify_package(bad, public).lines()
        assert len(lines) == 1 and lines[0].startswith("changed: manifest.json ("), (at, lines)
    dropped = rewrite(path, tmp_path / "bad.zip", lambda n, b: None if n == "recording/seg0/2.webm" else b)
    assert verify_package(dropped, public).lines() == ["missing: recording/seg0/2.webm"]
    added = rewrite(path, tmp_path / "bad.zip", add={"stills/extra.jpg": b"\xff\xd8\xff"})
    assert verify_package(added, public).lines() == ["added: stills/extra.jpg"]
    # a byte flipped in the archive itself (its CRC left as it was): that member cannot be read back
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("recording/seg0/0.webm")
    raw[info.header_offset + 30 + len(info.filename) + 40] ^= 0x01
    (tmp_path / "bad.zip").write_bytes(bytes(raw))
    assert verify_package(tmp_path / "bad.zip", public).lines() == ["changed: recording/seg0/0.webm (cannot be read back)"]
    # another key: not this key's evidence
    other = tmp_path / "other.pem"
    lines = verify_package(path, read_public_key(write_new_key(other))).lines()
    assert len(lines) == 1 and "not the key given" in lines[0]


async def test_only_staff_who_may_play_get_the_package_and_every_attempt_is_logged(ended: Ended) -> None:
    env = ended.env
    status, body, _ = await download(env, ended.sid, env.cookie(env.agent_cookie))
    assert status == 409 and json.loads(body)["error"]["code"] == "evidence_unsealed"  # not sealed yet
    await env.app[EVIDENCE].sealer.seal(ended.sid)
    stranger = env.cookie(await env.staff("spec-ev-x", Role.SPECIALIST, env.demo["home_centre"]))
    manager = env.cookie(await env.staff("mgr-ev", Role.MANAGER, env.demo["intake_centre"]))
    for who, code in ((stranger, 403), (env.booth_headers(), 403), ({}, 401), (manager, 200)):
        status, body, _ = await download(env, ended.sid, who)
        assert status == code, (code, body[:200])
    log = await env.app[ACCESS].by_session(ended.sid)
    assert [(e["who"], e["action"], e["allowed"], e["code"]) for e in reversed(log)] == [
        (env.agent, "evidence", False, "evidence_unsealed"), ("spec-ev-x", "evidence", False, "not_member"),
        (f"booth:{env.booth}", "evidence", False, "not_member"), ("-", "evidence", False, "unauthenticated"),
        ("mgr-ev", "evidence", True, "")]
    # a session that does not exist is answered like another's
    status, body, _ = await download(env, "RW20000101999999", stranger)
    assert status == 403
    async with env.srv.http.get(f"{env.url}/api/evidence/public-key") as resp:
        assert resp.status == 200 and b"BEGIN PUBLIC KEY" in await resp.read()
        assert resp.headers["X-Key-Id"] == env.app[EVIDENCE].key.id


async def test_a_session_still_open_or_ratable_is_not_sealed(env: Env) -> None:
    sealer = env.app[EVIDENCE].sealer
    refusal = await sealer.refusal(env.sid)
    assert refusal is not None and refusal.code == "illegal_transition"
    await sealer.seals.schedule(env.sid, 0)  # even if it were queued
    assert await sealer.seal_due() == 0 and await sealer.seals.seal_seq(env.sid) is None
    await env.app[STORE].complete(env.agent, env.sid, outcome="consultation")  # completed: may still be rated
    assert (await sealer.refusal(env.sid)) is not None
    unknown = await sealer.refusal("RW20000101999999")
    assert unknown is not None and unknown.code == "unknown_session"
