"""The sealer and the seal log: one seal per session however nodes race or die; purges; verify-log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.materials.conftest import Stills, new_env
from window_server.appkeys import DOCUMENTS, MATERIALS, RECORDING, REDIS, SETTINGS, STORE
from window_server.evidence.chain import entry_hash, parse_head
from window_server.evidence.cli import walk_log
from window_server.evidence.keys import read_public_key
from window_server.evidence.package import export
from window_server.evidence.seal_store import SealStore
from window_server.evidence.sealer import LEASE_MS, Sealer
from window_server.evidence.store import EvidenceStore, next_entry
from window_server.evidence.verify import verify_package
from window_server.http.evidence import EVIDENCE, SEAL_KEY
from window_server.store.client import make_redis
from window_server.store.keys import key

from .conftest import Ended, Env, play_to_the_end
from .test_package import SEAL_TIME, rewrite


def node(env: Env, redis: Any = None) -> Sealer:
    """A second node's sealer: its own Redis client, the same data directory and key."""
    app = env.app
    return Sealer(seals=SealStore(redis or app[REDIS]), sessions=app[STORE], materials=app[MATERIALS].store,
                  pdf=app[DOCUMENTS], finalize=app[RECORDING].finalize, key=app[SEAL_KEY],
                  data_dir=Path(app[SETTINGS].data_dir))


async def another_session(env: Env, stills: Stills, chunks: list[bytes], n: int) -> str:
    """One more session at its own booth with its own specialist, played to its end."""
    other = await new_env(env.srv, env.demo, f"bth-ev-{n}", f"spec-ev-{n}")
    await play_to_the_end(other, stills, [c + bytes([n]) for c in chunks])  # its own bytes: blobs are shared by hash
    return other.sid


async def test_two_nodes_racing_seal_once(ended: Ended, redis_url: str) -> None:
    env = ended.env
    second = make_redis(redis_url, timeout=10)
    try:
        a, b = env.app[EVIDENCE].sealer, node(env, second)
        results = await asyncio.gather(a.seal(ended.sid), b.seal(ended.sid), a.seal_due(), b.seal_due())
    finally:
        await second.aclose()
    first, second_, by_a, by_b = results
    assert first.seq == second_.seq  # both see the one seal
    assert [first.new, second_.new].count(True) + by_a + by_b == 1  # and exactly one of the four made it
    redis = env.app[REDIS]
    log = [json.loads(e) for e in await redis.lrange(key("seals"), 0, -1)]
    assert [(e["kind"], e["sid"]) for e in log] == [("seal", ended.sid)]
    chain = [json.loads(e) for e in await redis.lrange(key("chain", sid=ended.sid), 0, -1)]
    assert [e["kind"] for e in chain].count("summary") == 1 and len(chain) == log[0]["count"]
    assert await redis.zscore(key("seal_due"), ended.sid) is None  # out of the queue


async def test_a_node_that_died_mid_seal_leaves_it_to_the_next(ended: Ended, seal_key_file: Path,
                                                               tmp_path: Path) -> None:
    env = ended.env
    dead = node(env)
    now = dead.now_ms()
    assert await dead.seals.claim(ended.sid, now, now + LEASE_MS)  # claimed, then the node died
    await dead.finalize(ended.sid, now)
    await dead._items(ended.sid, await env.app[RECORDING].manifest(ended.sid))  # its files written, no more
    alive = env.app[EVIDENCE].sealer
    assert await alive.seal_due(now=now + 1) == 0  # the dead node's lease holds
    assert await alive.seals.seal_seq(ended.sid) is None
    assert await alive.seal_due(now=now + LEASE_MS + 1) == 1  # the lease ran out: sealed, once
    out = await export(alive.seals, alive.blobs, ended.sid, tmp_path / "p.zip")
    assert verify_package(out.path, read_public_key(seal_key_file)).ok
    assert await alive.seals.log_length() == 1


async def test_a_purge_shows_as_purged_and_later_sessions_still_verify(
        ended: Ended, stills: Stills, chunks: list[bytes], seal_key_file: Path, tmp_path: Path) -> None:
    env = ended.env
    sealer = env.app[EVIDENCE].sealer
    public = read_public_key(seal_key_file)
    await sealer.seal(ended.sid)
    later = await another_session(env, stills, chunks[:2], 2)
    await sealer.seal(later)
    # retention: the first session's recording goes; the purge is logged, then the chunks are deleted
    seq = await sealer.record_purge(ended.sid, ["chunk"], by="system", why="retention: 180 days")
    for e in await sealer.seals.chain_entries(ended.sid, 100):
        if json.loads(e)["kind"] == "chunk":
            await sealer.blobs.recordings.delete(json.loads(e)["sha256"])
    last = await another_session(env, stills, chunks[:1], 3)
    await sealer.seal(last)

    purged = await export(sealer.seals, sealer.blobs, ended.sid, tmp_path / "purged.zip")
    report = verify_package(purged.path, public)
    assert report.ok, report.problems
    assert f"purged: chunk by system (seal log entry {seq}); 3 item(s) absent as purged" in report.lines()
    for sid in (later, last):
        out = await export(sealer.seals, sealer.blobs, sid, tmp_path / f"{sid}.zip")
        assert verify_package(out.path, public).ok
    report = await walk_log(sealer.seals, public, chains=True)
    assert report.lines() == ["OK", f"4 entries: 3 seals, 1 purges; head {report.head}"]
    assert report.head == await sealer.seals.log_head()  # what an operator keeps away from the servers
    # the purge names what it purged: a still that is gone as well is missing, not purged
    m = ended.stills[1]
    await sealer.blobs.materials.delete(m["thumb_sha256"])
    lines = verify_package((await export(sealer.seals, sealer.blobs, ended.sid, tmp_path / "p2.zip")).path,
                           public).lines()
    assert lines == [f"missing: stills/{m['id']}/thumb.jpg"]
    # a purge of seal-time items deletes their files under data_dir/evidence too
    pdf = next(json.loads(e) for e in await sealer.seals.chain_entries(ended.sid, 100) if '"pdf"' in e)
    assert await sealer.blobs.evidence.exists(pdf["sha256"])
    await sealer.record_purge(ended.sid, ["still", "pdf"], why="retention of materials")
    assert not await sealer.blobs.evidence.exists(pdf["sha256"])
    report = verify_package((await export(sealer.seals, sealer.blobs, ended.sid, tmp_path / "p3.zip")).path, public)
    assert report.ok, report.problems


async def test_verify_log_catches_a_deleted_or_altered_seal(
        ended: Ended, stills: Stills, chunks: list[bytes], seal_key_file: Path) -> None:
    env = ended.env
    sealer = env.app[EVIDENCE].sealer
    public = read_public_key(seal_key_file)
    sids = [ended.sid, await another_session(env, stills, chunks[:1], 2), await another_session(env, stills, [], 3)]
    for sid in sids:
        await sealer.seal(sid)
    assert (await walk_log(sealer.seals, public)).ok
    redis = env.app[REDIS]
    entries = await redis.lrange(key("seals"), 0, -1)

    # altered: a seal's count changed (its signature no longer holds, and the next entry's link breaks)
    changed = json.loads(entries[1])
    changed["count"] += 1
    await redis.lset(key("seals"), 1, json.dumps(changed, sort_keys=True, separators=(",", ":")))
    lines = (await walk_log(sealer.seals, public)).lines()
    assert f"seal log entry 1 (seal of session {sids[1]}): the signature does not verify" in lines
    assert f"seal log entry 2 (seal of session {sids[2]}): does not link entry 1" in lines
    await redis.lset(key("seals"), 1, entries[1])
    assert (await walk_log(sealer.seals, public)).ok

    # deleted: a whole session's seal taken out of the middle
    await redis.lrem(key("seals"), 1, entries[1])
    lines = (await walk_log(sealer.seals, public)).lines()
    assert any("numbered 2" in line and "does not link" not in line for line in lines), lines
    assert any("does not link entry 0" in line for line in lines)
    assert any("head counts 3 entries, the log holds 2" in line for line in lines)

    # deleted at the end, the head rewound to match: the session index still names it
    await redis.delete(key("seals"))
    await redis.rpush(key("seals"), *entries[:2])
    await redis.set(key("seals_head"), f"2:{entry_hash(json.loads(entries[1]))}")
    lines = (await walk_log(sealer.seals, public)).lines()
    assert lines == [f"session {sids[2]}: the index names seal log entry 2, its seal is not in the log"]

    # a session's chain altered in Redis after its seal
    await redis.set(key("seals_head"), f"3:{entry_hash(json.loads(entries[2]))}")
    await redis.rpush(key("seals"), entries[2])
    raw = await redis.lindex(key("chain", sid=sids[0]), 0)
    e = json.loads(raw)
    e["sha256"] = "0" * 64
    await redis.lset(key("chain", sid=sids[0]), 0, json.dumps(e))
    assert (await walk_log(sealer.seals, public)).ok  # links and signatures alone
    lines = (await walk_log(sealer.seals, public, chains=True)).lines()
    assert lines == [f"session {sids[0]}: its chain in Redis is not the one sealed (seal log entry 0)"]
    assert parse_head(await redis.get(key("seals_head")))[0] == 3


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", "evidence", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_line(ended: Ended, stills: Stills, chunks: list[bytes], seal_key_file: Path,
                                redis_url: str, tmp_path: Path) -> None:
    env = ended.env
    settings = env.app[SETTINGS]
    cli_env = {"REDIS_URL": redis_url, "RW_DATA_DIR": str(settings.data_dir), "RW_DEMO": "false",
               "RW_EVIDENCE_KEY": str(seal_key_file)}
    code, out, err = await run_cli("export", ended.sid, str(tmp_path / "p.zip"), env=cli_env)
    assert (code, "not sealed yet" in err) == (1, True)
    code, out, err = await run_cli("seal", ended.sid, env=cli_env)
    assert code == 0 and f"session {ended.sid} sealed: seal log entry 0" in out, err
    code, out, err = await run_cli("export", ended.sid, str(tmp_path / "p.zip"), env=cli_env)
    assert code == 0, err
    code, pem, err = await run_cli("public-key", env=cli_env)
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "pub.pem").write_text(pem)
    offline = {"RW_DEMO": "false", "RW_EVIDENCE_KEY": "", "REDIS_URL": "redis://127.0.0.1:1"}  # no Redis needed
    code, out, err = await run_cli("verify", str(tmp_path / "p.zip"), "--public-key", str(tmp_path / "pub.pem"),
                                   env=offline)
    assert (code, out.splitlines()[0]) == (0, "OK"), err
    rewrite(tmp_path / "p.zip", tmp_path / "bad.zip", lambda n, b: b + b"x" if n == "facts.json" else b)
    code, out, err = await run_cli("verify", str(tmp_path / "bad.zip"), env=cli_env)  # the key from settings
    assert (code, out) == (1, "changed: facts.json\n")
    code, out, err = await run_cli("verify-log", "--chains", env=cli_env)
    assert (code, out.startswith("OK\n1 entries: 1 seals, 0 purges; head 1:")) == (0, True), err
    code, out, err = await run_cli("verify", str(tmp_path / "p.zip"), env={**cli_env, "RW_EVIDENCE_KEY": ""})
    assert code == 2 and "RW_EVIDENCE_KEY" in err  # RW_DEMO=false: no key to verify with


async def test_a_seal_built_on_a_chain_that_moved_is_not_written(ended: Ended) -> None:
    env = ended.env
    sealer = env.app[EVIDENCE].sealer
    head = await sealer.seals.chain_head(ended.sid)
    triple = next_entry(head, kind="facts", ref="facts.json", sha256="0" * 64, at=1)
    await EvidenceStore(env.app[REDIS]).append(ended.sid, "chunk", "seg0/3", "1" * 64, 2)  # a late chunk
    assert await sealer._append_seal(ended.sid, head or "", [triple], triple[2], 3) is None
    assert await sealer.seals.seal_seq(ended.sid) is None and await sealer.seals.log_length() == 0
    assert parse_head(await sealer.seals.chain_head(ended.sid))[0] == 4  # the three chunks and the late one
    sealed = await sealer.seal(ended.sid)
    seal = await sealer.seals.entry(sealed.seq)
    assert seal is not None and seal["count"] == 4 + len(SEAL_TIME)  # the late chunk is under the seal
