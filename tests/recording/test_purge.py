"""Retention: recordings (and stills) past retention are purged unless held; each purge is in the seal log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.materials.conftest import Env, Stills
from window_server.appkeys import MATERIALS, QUEUE, RECORDING, REDIS, SETTINGS, STORE
from window_server.dashboard.service import DASHBOARD
from window_server.domain.auth import Role
from window_server.evidence.keys import SealKey, read_private_key, write_new_key
from window_server.evidence.package import Blobs, export
from window_server.evidence.seal_store import SealStore
from window_server.evidence.sealer import Sealer, ThreadPdf
from window_server.evidence.verify import verify_package
from window_server.materials.purge import purge_materials
from window_server.recording.holds_store import HoldsStore
from window_server.recording.purge import (
    RecordingPurge,
    RecordingPurgeReport,
    main,
    recording_purge,
    run_purge,
)
from window_server.runtime.tasks import stop_tasks
from window_server.store.blobs import FileBlobStore, sha256_hex

from .conftest import webm
from .test_oversight import fetch, make_oversight_env, ovs, record_a_leg  # noqa: F401  (fixtures)

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def other_chunks() -> list[bytes]:
    """Another recording (other bytes than ``chunks``), cut in three."""
    data = webm(seconds=2.0, fps=10)
    third = len(data) // 3
    return [data[:third], data[third:2 * third], data[2 * third:]]


def sealer_of(env: Env, tmp_path: Path) -> Sealer:
    path = write_new_key(tmp_path / "seal-key.pem")
    app = env.app
    return Sealer(seals=SealStore(app[REDIS]), sessions=app[STORE], materials=app[MATERIALS].store,
                  pdf=ThreadPdf(), finalize=app[RECORDING].finalize, key=SealKey(read_private_key(path), path),
                  data_dir=Path(app[SETTINGS].data_dir))


async def served(make: Callable[..., Awaitable[Env]], env: Env, n: int) -> Env:
    """Another held session on the same server, with its own booth and specialist."""
    return await make(booth=f"bth-pur-{n}", agent=f"spec-pur-{n}", srv=env.srv)


async def ended(env: Env, level: int) -> None:
    """Completed and rated (a final state: out of the active set, ready to seal)."""
    await env.app[STORE].complete(env.agent, env.sid, outcome="consulted")
    await env.app[QUEUE].rate(env.sid, env.booth, level, "")


def files(env: Env, data: list[bytes]) -> list[bool]:
    blobs = FileBlobStore(Path(env.app[SETTINGS].data_dir) / "recordings")
    return [blobs.path(sha256_hex(d)).is_file() for d in data]


async def verified(sealer: Sealer, env: Env, sid: str, out: Path) -> list[str]:
    """Export the session's evidence package and verify it offline: its report's lines."""
    await export(sealer.seals, Blobs.under(Path(env.app[SETTINGS].data_dir)), sid, out)
    return (await asyncio.to_thread(verify_package, out, sealer.key.public)).lines()


async def test_the_purge_skips_held_sessions_purges_the_others_and_logs_it_in_the_seal_log(
        make_oversight_env: Callable[..., Awaitable[Env]], chunks: list[bytes], other_chunks: list[bytes],  # noqa: F811
        tmp_path: Path) -> None:
    legal = await make_oversight_env(booth="bth-pur-0", agent="spec-pur-0")
    review, gone, live = [await served(make_oversight_env, legal, n) for n in (1, 2, 3)]
    app = legal.app
    await record_a_leg(legal, chunks)
    review_chunks = [b"review-%d" % i * 100 for i in range(2)]
    await record_a_leg(review, review_chunks)
    await record_a_leg(gone, other_chunks)
    # a session still in service whose recording holds the same bytes as one of `gone`'s chunks
    await record_a_leg(live, [other_chunks[2], b"live" * 100])
    manager = legal.cookie(await legal.staff("mgr-pur", Role.MANAGER, legal.demo["intake_centre"]))
    status, _, _ = await fetch(gone, f"/api/sessions/{gone.sid}/recording/segments/0.webm", manager)
    assert status == 200  # played once: a remuxed copy is cached
    play = Path(app[SETTINGS].data_dir) / "recordings" / "play"
    assert [p.name.startswith(gone.sid) for p in play.iterdir()] == [True]

    await ended(legal, 5)
    await ended(review, 1)  # a bad review: its follow-up holds the session
    await ended(gone, 5)
    async with asyncio.timeout(10):
        await app[DASHBOARD].aggregator.drained()
    status, body, _ = await fetch(legal, f"/api/sessions/{legal.sid}/hold", manager, "PUT", {"reason": "诉讼 lawsuit"})
    assert status == 200, body
    sealer = sealer_of(legal, tmp_path)
    for env in (legal, review, gone):
        await sealer.seal(env.sid)

    purge = recording_purge(app[REDIS], app[STORE], Path(app[SETTINGS].data_dir), sealer)
    later = app[STORE].now_ms() + 181 * DAY_MS
    dry = await purge.run(now_ms=later, retention_days=180, dry_run=True)
    assert (dry.purged, dry.held, dry.files, dry.shared, dry.cache, dry.kept) == (
        [gone.sid], {legal.sid: "legal hold", review.sid: "open bad review"}, 2, 1, 1, 1)
    assert files(gone, other_chunks) == [True, True, True]  # a dry run deletes nothing
    log_length = await sealer.seals.log_length()
    assert log_length == 3

    report = await purge.run(now_ms=later, retention_days=180)
    assert (report.purged, report.held, report.files, report.shared, report.cache) == (
        [gone.sid], {legal.sid: "legal hold", review.sid: "open bad review"}, 2, 1, 1)
    assert report.bytes == len(other_chunks[0]) + len(other_chunks[1])
    # its own chunk files are gone; the one a kept recording names stays; held recordings are whole
    assert files(gone, other_chunks) == [False, False, True]
    assert files(legal, chunks) == [True] * 3 and files(review, review_chunks) == [True] * 2
    assert list(play.iterdir()) == []
    assert (await app[RECORDING].store.recording(gone.sid))["state"] == "purged"
    status, body, _ = await fetch(gone, f"/api/sessions/{gone.sid}/recording", manager)
    assert status == 200 and body["recording"]["state"] == "purged"
    status, body, _ = await fetch(gone, f"/api/sessions/{gone.sid}/recording/segments/0.webm", manager)
    assert (status, body["error"]["code"]) == (404, "recording_purged")
    [event] = [e for e in await app[STORE].session_events(gone.sid) if e["act"] == "recording_purged"]
    assert event["by"] == "system" and event["files"] == "2"

    # the purge is in the seal log, signed, after the seals
    assert await sealer.seals.log_length() == log_length + 1
    entry = await sealer.seals.entry(log_length)
    assert entry is not None
    assert (entry["kind"], entry["sid"], entry["what"], entry["by"]) == ("purge", gone.sid, ["chunk"], "system")
    assert await sealer.seals.purge_seqs(gone.sid) == [log_length]

    # the purged session verifies as purged, not as tampered; the others verify as before
    lines = await verified(sealer, gone, gone.sid, tmp_path / "gone.zip")
    assert lines[0] == "OK", lines
    assert any(line.startswith("purged: chunk by system") and "2 item(s) absent" in line for line in lines), lines  # the shared one is there
    for env in (legal, review):
        lines = await verified(sealer, env, env.sid, tmp_path / f"{env.sid}.zip")
        assert lines[0] == "OK", lines
        assert not any(line.startswith("purged") for line in lines)

    # once purged, never again; a lifted hold lets the next round take the session
    again = await purge.run(now_ms=later, retention_days=180)
    assert again.purged == [] and await sealer.seals.log_length() == log_length + 1
    assert (await fetch(legal, f"/api/sessions/{legal.sid}/hold", manager, "DELETE"))[0] == 200
    after = await purge.run(now_ms=later, retention_days=180)
    assert after.purged == [legal.sid] and after.held == {review.sid: "open bad review"}
    assert files(legal, chunks) == [False] * 3
    assert (await verified(sealer, legal, legal.sid, tmp_path / "legal-2.zip"))[0] == "OK"
    assert (await verified(sealer, review, review.sid, tmp_path / "review-2.zip"))[0] == "OK"


async def test_a_recording_within_retention_or_of_an_open_session_is_kept(
        ovs: Env, chunks: list[bytes], tmp_path: Path) -> None:  # noqa: F811
    env = ovs
    await record_a_leg(env, chunks)
    purge = recording_purge(env.app[REDIS], env.app[STORE], Path(env.app[SETTINGS].data_dir), sealer_of(env, tmp_path))
    now = env.app[STORE].now_ms()
    report = await purge.run(now_ms=now + 400 * DAY_MS, retention_days=180)
    assert (report.purged, report.kept) == ([], 1)  # still in service
    await ended(env, 5)
    report = await purge.run(now_ms=now + 179 * DAY_MS, retention_days=180)
    assert (report.purged, report.kept) == ([], 1)  # ended less than 180 days before
    assert files(env, chunks) == [True] * 3


async def test_each_node_runs_the_purge_on_a_schedule(
        ovs: Env, chunks: list[bytes], tmp_path: Path) -> None:  # noqa: F811
    env = ovs
    await record_a_leg(env, chunks)
    await ended(env, 5)
    app = env.app
    rounds: asyncio.Queue[RecordingPurgeReport] = asyncio.Queue()

    class Observed(RecordingPurge):
        async def run(self, *, now_ms: int, retention_days: float, dry_run: bool = False) -> RecordingPurgeReport:
            report = await super().run(now_ms=now_ms, retention_days=retention_days, dry_run=dry_run)
            rounds.put_nowait(report)
            return report

    purge = Observed(sessions=app[STORE], recordings=app[RECORDING].store, holds=HoldsStore(app[REDIS]),
                     blobs=FileBlobStore(Path(app[SETTINGS].data_dir) / "recordings"), sealer=sealer_of(env, tmp_path))
    task = asyncio.create_task(run_purge(purge, interval_s=3600, retention_days=1e-9, first_after_s=0))
    try:
        async with asyncio.timeout(10):
            first = await rounds.get()
    finally:
        await stop_tasks([task])
    assert first.purged == [env.sid] and files(env, chunks) == [False] * 3


async def test_a_purge_needs_the_seal_log(ovs: Env) -> None:  # noqa: F811
    app = ovs.app
    purge = RecordingPurge(sessions=app[STORE], recordings=app[RECORDING].store, holds=HoldsStore(app[REDIS]),
                           blobs=FileBlobStore(Path(app[SETTINGS].data_dir) / "recordings"), sealer=None)
    assert (await purge.run(now_ms=app[STORE].now_ms(), retention_days=1, dry_run=True)).purged == []
    with pytest.raises(ValueError, match="seal log"):
        await purge.run(now_ms=app[STORE].now_ms(), retention_days=1)


async def test_the_command_purges_and_names_the_held_sessions(
        make_oversight_env: Callable[..., Awaitable[Env]], chunks: list[bytes], other_chunks: list[bytes],  # noqa: F811
        redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held = await make_oversight_env(booth="bth-cli-0", agent="spec-cli-0")
    gone = await served(make_oversight_env, held, 9)
    await record_a_leg(held, chunks)
    await record_a_leg(gone, other_chunks)
    await ended(held, 5)
    await ended(gone, 5)
    await HoldsStore(held.app[REDIS]).set_legal(held.sid, by="mgr", reason="audit", now=held.app[STORE].now_ms())
    data_dir = Path(held.app[SETTINGS].data_dir)
    write_new_key(tmp_path / "key.pem")
    argv = ["--redis-url", redis_url, "--data-dir", str(data_dir), "--days", "1e-9"]
    assert await asyncio.to_thread(main, [*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would delete the recordings of 1 sessions") and f"  {held.sid}: legal hold" in out
    assert files(gone, other_chunks) == [True] * 3

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RW_DEMO", "false")
        # without the seal key (required with RW_DEMO=false) nothing is purged: it could not be logged
        assert await asyncio.to_thread(main, argv) == 2
        assert "RW_EVIDENCE_KEY" in capsys.readouterr().err
        assert files(gone, other_chunks) == [True] * 3
        mp.setenv("RW_EVIDENCE_KEY", str(tmp_path / "key.pem"))
        assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out.startswith("deleted the recordings of 1 sessions")
    assert files(gone, other_chunks) == [False] * 3 and files(held, chunks) == [True] * 3
    assert await SealStore(held.app[REDIS]).purge_seqs(gone.sid) == [0]


# --- stills ---------------------------------------------------------------------------------------------


async def test_the_stills_purge_honours_holds_and_is_logged_so_the_package_still_verifies(
        make_oversight_env: Callable[..., Awaitable[Env]], stills: Stills, tmp_path: Path) -> None:  # noqa: F811
    held = await make_oversight_env(booth="bth-st-0", agent="spec-st-0")
    gone = await served(make_oversight_env, held, 7)
    shas = {}
    for env, still in ((held, stills.card_front), (gone, stills.good)):
        status, body = await env.upload(still)
        assert status == 201, body
        shas[env.sid] = body["material"]["sha256"]
        await ended(env, 5)
    app = held.app
    await HoldsStore(app[REDIS]).set_legal(held.sid, by="mgr", reason="audit", now=app[STORE].now_ms())
    sealer = sealer_of(held, tmp_path)
    for env in (held, gone):
        await sealer.seal(env.sid)
    materials = FileBlobStore(Path(app[SETTINGS].data_dir) / "materials")
    report = await purge_materials(app[MATERIALS].store, materials, now_ms=app[STORE].now_ms() + 181 * DAY_MS,
                                   retention_days=180, sealer=sealer)
    assert report.sessions == [gone.sid] and report.held == {held.sid: "legal hold"}
    assert not await materials.exists(shas[gone.sid]) and await materials.exists(shas[held.sid])
    [seq] = await sealer.seals.purge_seqs(gone.sid)
    entry = await sealer.seals.entry(seq)
    assert entry is not None and entry["what"] == ["delivery", "notes", "pdf", "still"]
    lines = await verified(sealer, gone, gone.sid, tmp_path / "gone.zip")
    assert lines[0] == "OK" and any(line.startswith("purged: delivery, notes, pdf, still") for line in lines), lines
    assert (await verified(sealer, held, held.sid, tmp_path / "held.zip"))[0] == "OK"
