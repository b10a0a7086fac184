"""Retention of recordings: ``python -m window_server purge-recordings [--dry-run] [--days N]``.

A recording is kept for ``RW_RECORDING_RETENTION_DAYS`` after its session ended (closed: out of
the active set, in a final state). Then, unless the session is under a hold (a manager's legal
hold, or an open bad-review follow-up), the purge

1. appends a signed purge entry to the seal log (``what: ["chunk"]``), so the session's evidence
   package verifies as purged, not as tampered, and the seal log stays whole for every other
   session (the entry is written once, even when a purge is run again after a crash);
2. deletes the recording's chunk files, except a file that a kept recording names too;
3. deletes the remuxed copies made for playback (``recordings/play/<sid>-<n>-….webm``);
4. marks the recording purged (playback answers 404 ``recording_purged``) and adds the event
   ``recording_purged`` to the session.

The recording's manifest (segments, who was present, gaps) and its evidence-chain entries stay:
they say a recording existed and what it was. Held sessions are kept and reported. Each node
runs the purge on a schedule (``RW_PURGE_INTERVAL_HOURS``, ``run_purge``); a node claims a
session before purging it, so two nodes never purge one twice.

Which Redis: as for ``users``/``booths``. Exit status: 0 done, 1 Redis unreachable, 2 bad usage
(or no seal key: a purge that cannot be logged is not done).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from window_server.cli import retention_main
from window_server.domain.session import ENDED_STATES
from window_server.evidence.keys import load_seal_key
from window_server.evidence.seal_store import SealStore
from window_server.evidence.sealer import Sealer, ThreadPdf
from window_server.queue.store import QueueStore, QueueTiming
from window_server.recording.holds_store import HoldsStore
from window_server.recording.store import RecordingStore
from window_server.runtime.tasks import cancelled, pause
from window_server.settings import Settings
from window_server.store.blobs import FileBlobStore
from window_server.store.client import make_redis

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
CLAIM_MS = 3_600_000  # a node's claim on a recording it purges; then another may finish the job
FIRST_ROUND_S = 60.0  # the first scheduled round, after start: a node restarted daily still purges
WHAT = ("chunk",)  # the seal log's name for what is deleted: the chained chunks (evidence/verify.py)
PURGED = "purged"


@dataclass
class RecordingPurgeReport:
    """What a purge did (or, dry, would do)."""

    purged: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # sid -> "legal hold" | "open bad review"
    files: int = 0  # chunk files deleted
    bytes: int = 0
    shared: int = 0  # chunk files kept because a kept recording names them too
    cache: int = 0  # remuxed playback files deleted
    kept: int = 0  # recordings within retention (or of sessions not closed)


class RecordingPurge:
    """Purge recordings past retention, honouring holds; log each purge in the seal log."""

    def __init__(self, *, sessions: QueueStore, recordings: RecordingStore, holds: HoldsStore,
                 blobs: FileBlobStore, sealer: Sealer | None) -> None:
        self.sessions = sessions
        self.recordings = recordings
        self.holds = holds
        self.blobs = blobs
        self.sealer = sealer  # None: only a dry run is possible

    async def run(self, *, now_ms: int, retention_days: float, dry_run: bool = False) -> RecordingPurgeReport:
        """Purge the recordings of sessions closed more than ``retention_days`` before ``now_ms``."""
        if self.sealer is None and not dry_run:
            raise ValueError("a purge is logged in the seal log: give the sealer")
        report = RecordingPurgeReport()
        cutoff = now_ms - int(retention_days * DAY_MS)
        active = await self.sessions.active_sessions()
        ended = {s.value for s in ENDED_STATES}
        sids = await self.holds.recorded_sids()
        expired: list[str] = []
        kept: list[str] = []
        for sid, rec_state in zip(sids, await self.recordings.states(sids), strict=True):
            if rec_state == PURGED:
                continue
            state, *times = await self.sessions.session_fields(sid, ["state", "ended", "updated", "created"])
            last = max((int(x) for x in times if x), default=now_ms)
            if sid in active or state not in ended or last > cutoff:
                kept.append(sid)
            else:
                expired.append(sid)
        report.kept = len(kept)
        if not expired:
            return report
        report.held = await self.holds.holds(expired)
        kept += report.held
        keep: set[str] = set()
        for sid in kept:
            keep |= await self._shas(sid)
        why = f"retention: recordings are kept {retention_days:g} days after the session ended"
        for sid in expired:
            if sid in report.held:
                continue
            shas = await self._shas(sid)
            report.shared += len(shas & keep)
            if dry_run:
                report.purged.append(sid)
                for sha in shas - keep:
                    size = await asyncio.to_thread(_size, self.blobs.path(sha))
                    report.files += size is not None
                    report.bytes += size or 0
                report.cache += len(await asyncio.to_thread(_cached, self.blobs.root, sid))
                continue
            if not await self.holds.claim_purge(sid, now_ms, now_ms + CLAIM_MS):
                continue  # another node is purging it (or has)
            if now_held := await self.holds.holds([sid]):  # a hold set since the scan
                report.held.update(now_held)
                continue
            await self._purge(sid, shas - keep, why, now_ms, report)
            report.purged.append(sid)
        return report

    async def _shas(self, sid: str) -> set[str]:
        """The chunk files the session's recording names."""
        rec = await self.recordings.recording(sid)
        segments = await self.recordings.segments(sid, int(rec.get("segments") or 0))
        return {str(c["sha256"]) for _meta, chunks in segments for c in chunks.values() if c.get("sha256")}

    async def _purge(self, sid: str, shas: set[str], why: str, now: int, report: RecordingPurgeReport) -> None:
        assert self.sealer is not None
        if not await self._logged(sid):  # first the log: an absence is then never unexplained
            await self.sealer.record_purge(sid, WHAT, by="system", why=why, now=now)
        files = 0
        for sha in sorted(shas):
            size = await asyncio.to_thread(_size, self.blobs.path(sha))
            if await self.blobs.delete(sha):
                files += 1
                report.bytes += size or 0
        report.files += files
        report.cache += await asyncio.to_thread(_drop_cached, self.blobs.root, sid)
        await self.recordings.mark_purged(sid, now)
        await self.holds.log_event(sid, "recording_purged", by="system", why=why, now=now, extra={"files": files})
        log.info("recording of session=%s purged: %d chunk files", sid, files)

    async def _logged(self, sid: str) -> bool:
        """Whether the seal log has a purge of this session's chunks already (a run cut short)."""
        assert self.sealer is not None
        seals = self.sealer.seals
        for seq in await seals.purge_seqs(sid):
            entry = await seals.entry(seq)
            if entry is not None and set(WHAT) <= set(entry.get("what") or []):
                return True
        return False


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _cached(root: Path, sid: str) -> list[Path]:
    """The session's remuxed playback files (``recording/remux.py``: ``<sid>-<n>-<digest>.webm``)."""
    play = root / "play"
    if not play.is_dir():
        return []
    return [f for f in play.glob(f"{sid}-*.webm") if f.name[:-len(".webm")].rsplit("-", 2)[0] == sid]


def _drop_cached(root: Path, sid: str) -> int:
    n = 0
    for f in _cached(root, sid):
        try:
            f.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


# --- the node's schedule -----------------------------------------------------------------------------


async def run_purge(purge: RecordingPurge, *, interval_s: float, retention_days: float,
                    first_after_s: float = FIRST_ROUND_S) -> None:
    """Purge a minute after start, then every ``interval_s`` seconds, until cancelled (a failed round is logged)."""
    delay = first_after_s
    while True:
        await pause(delay)
        delay = interval_s
        try:
            report = await purge.run(now_ms=purge.sessions.now_ms(), retention_days=retention_days)
        except Exception:  # Redis or the disk away: the next round tries again
            if cancelled():
                raise asyncio.CancelledError from None
            log.exception("recording purge failed; tried again in %.0f h", interval_s / 3600)
            continue
        if report.purged or report.held:
            log.info("recording purge: %d recordings purged (%d files), %d held past retention",
                     len(report.purged), report.files, len(report.held))


def purge_logger(redis: Redis, settings: Settings, sessions: QueueStore) -> Sealer:
    """A sealer that only logs purges (for the commands): it never seals, so it needs no materials."""
    return Sealer(seals=SealStore(redis), sessions=sessions, materials=_NotSealing(), pdf=ThreadPdf(),
                  finalize=_not_sealing, key=load_seal_key(settings), data_dir=Path(settings.data_dir),
                  tz=settings.timezone)


class _NotSealing:
    async def list(self, sid: str) -> list[dict[str, Any]]:
        raise RuntimeError("the purge does not seal")


async def _not_sealing(sid: str, now_ms: int) -> dict[str, Any]:
    raise RuntimeError("the purge does not seal")


def recording_purge(redis: Redis, sessions: QueueStore, data_dir: Path, sealer: Sealer | None) -> RecordingPurge:
    """The purge over these stores (chunks under ``data_dir/recordings``)."""
    return RecordingPurge(sessions=sessions, recordings=RecordingStore(redis), holds=HoldsStore(redis),
                          blobs=FileBlobStore(Path(data_dir) / "recordings"), sealer=sealer)


# --- the command -----------------------------------------------------------------------------------


async def _run(url: str, settings: Settings, days: float, dry_run: bool) -> int:
    redis = make_redis(url, timeout=10)
    try:
        sessions = QueueStore(redis, QueueTiming(), time.time, tz=settings.timezone)
        sealer = None if dry_run else purge_logger(redis, settings, sessions)
        purge = recording_purge(redis, sessions, Path(settings.data_dir), sealer)
        report = await purge.run(now_ms=sessions.now_ms(), retention_days=days, dry_run=dry_run)
    finally:
        await redis.aclose()
    verb = "would delete" if dry_run else "deleted"
    out = sys.stdout
    out.write(f"{verb} the recordings of {len(report.purged)} sessions ended over {days:g} days ago "
              f"({report.files} files, {report.bytes / 1e6:.1f} MB; {report.cache} playback copies); "
              f"kept {report.shared} files another recording shares and {report.kept} recordings "
              f"within retention\n")
    if report.held:
        out.write(f"held past retention: {len(report.held)} sessions\n")
        for sid, why in sorted(report.held.items()):
            out.write(f"  {sid}: {why}\n")
    return 0


def main(argv: Sequence[str]) -> int:
    """Run ``purge-recordings``; return the exit status."""
    return retention_main(argv, name="purge-recordings", doc=__doc__, default_days=lambda s: s.recording_retention_days,
                          setting="RW_RECORDING_RETENTION_DAYS", run=_run)
