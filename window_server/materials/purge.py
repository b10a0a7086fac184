"""Retention of materials: ``python -m window_server purge-materials [--dry-run] [--days N]``.

A session is closed once it is out of the active set: rated, abandoned, no-show, interrupted,
or completed and its rating window (``RW_RATING_WINDOW_HOURS``) has closed unrated. Stills
(with their corrected pages, thumbnails and masked renditions), their records, verdicts, the
fields read off ID cards and capture requests are kept for ``RW_MATERIAL_RETENTION_DAYS``
after their session ended (its last state change); then this command deletes them, and with
them the people's words the session kept: its notes, the rating comment, the transfer reasons,
and the reasons (``why``, an override's ``override_reason``) in its own event stream. The
session's events stay (who captured, judged and saw what, and when: the audit trail), and an
event ``materials_purged`` is added. A blob still named by a kept material (the same still in
another session) stays. Blobs named by no record at all (an upload whose record was refused
after its files were written) are deleted once they are a day old.

A session under a hold (a manager's legal hold, or an open bad-review follow-up) is kept, and
reported. Each purge is logged in the seal log first (``what: still, pdf, notes``): the session's
evidence package then verifies with the stills, the materials PDF and the notes absent as
purged, and the evidence store's copies of the PDF and the notes go too.

Run it daily (cron or a systemd timer). Which Redis: as for ``users``/``booths``.
Exit status: 0 done, 1 Redis unreachable, 2 bad usage.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from window_server.cli import retention_main
from window_server.domain.session import ENDED_STATES
from window_server.evidence.sealer import Sealer
from window_server.materials.store import MaterialStore
from window_server.queue.store import QueueStore, QueueTiming
from window_server.recording.holds_store import HoldsStore
from window_server.recording.purge import purge_logger
from window_server.settings import Settings
from window_server.store.blobs import FileBlobStore
from window_server.store.client import make_redis

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
ORPHAN_GRACE_S = 86_400.0
#: What the seal log says a purge deleted: the chain's kinds (evidence/verify.py excuses their absence).
WHAT = ("still", "pdf", "notes", "delivery")  # delivery: the address in full (issue 18), gone with the private hash


@dataclass
class PurgeReport:
    sessions: list[str] = field(default_factory=list)
    materials: int = 0
    blobs: int = 0
    orphans: int = 0
    kept_sessions: int = 0
    held: dict[str, str] = field(default_factory=dict)  # sid -> "legal hold" | "open bad review"


async def purge_materials(
    store: MaterialStore, blobs: FileBlobStore, *, now_ms: int, retention_days: float, dry_run: bool = False,
    sealer: Sealer | None = None,
) -> PurgeReport:
    """Delete the materials and free text of sessions that closed more than ``retention_days`` ago.

    Sessions under a hold are kept. With ``sealer`` each purge is logged in the seal log first.
    """
    sessions = store.store  # the session hashes and the active set are the queue's
    holds = HoldsStore(store.redis)
    report = PurgeReport()
    cutoff = now_ms - int(retention_days * DAY_MS)
    active = await sessions.active_sessions()
    ended = {s.value for s in ENDED_STATES}
    keep: set[str] = set()
    expired: dict[str, set[str]] = {}
    for sid in await sessions.session_ids():
        state, purged, *times = await sessions.session_fields(sid, ["state", "purged", "ended", "updated", "created"])
        last = max((int(x) for x in times if x), default=now_ms)
        shas: set[str] = set()
        for raw in (await store.records(sid)).values():
            m = json.loads(raw)
            shas.update(x for x in (m.get("sha256"), m.get("corrected_sha256"), m.get("thumb_sha256"),
                                    m.get("masked_sha256"), m.get("masked_thumb_sha256")) if x)
        if sid in active or state not in ended or last > cutoff:
            keep |= shas
            if shas:
                report.kept_sessions += 1
        elif not purged or shas:  # purged once already and nothing new: nothing to do
            expired[sid] = shas
    report.held = await holds.holds(list(expired))
    for sid in report.held:
        keep |= expired.pop(sid)
        report.kept_sessions += 1
    for sid, shas in expired.items():
        report.sessions.append(sid)
        if not dry_run:
            why = f"retention: {retention_days:g} days after the session ended"
            if sealer is not None:
                await sealer.record_purge(sid, WHAT, by="system", why=why, now=now_ms)
            res = await store.purge(sid, why=why)
            report.materials += int(res.ok.get("count", 0))
            for sha in shas - keep:
                report.blobs += await blobs.delete(sha)
        else:
            report.materials += await store.count(sid)
            report.blobs += len(shas - keep)
    referenced = keep | {sha for shas in expired.values() for sha in shas}
    now_s = now_ms / 1000
    for sha in list(blobs.shas()):
        if sha in referenced:
            continue
        try:
            old = blobs.path(sha).stat().st_mtime < now_s - ORPHAN_GRACE_S
        except FileNotFoundError:
            continue
        if old:
            report.orphans += 1
            if not dry_run:
                await blobs.delete(sha)
    return report


async def _run(url: str, settings: Settings, days: float, dry_run: bool) -> int:
    data_dir = Path(settings.data_dir)
    redis = make_redis(url, timeout=10)
    try:
        store = QueueStore(redis, QueueTiming(), time.time)
        await store.load()
        sealer = None if dry_run else purge_logger(redis, settings, store)
        report = await purge_materials(MaterialStore(store), FileBlobStore(data_dir / "materials"),
                                       now_ms=store.now_ms(), retention_days=days, dry_run=dry_run, sealer=sealer)
    finally:
        await redis.aclose()
    verb = "would delete" if dry_run else "deleted"
    sys.stdout.write(f"{verb} {report.materials} materials of {len(report.sessions)} sessions ended over "
                     f"{days:g} days ago ({report.blobs} files) and {report.orphans} unreferenced files; "
                     f"kept the materials of {report.kept_sessions} sessions\n")
    for sid, why in sorted(report.held.items()):
        sys.stdout.write(f"  held past retention: {sid} ({why})\n")
    return 0


def main(argv: Sequence[str]) -> int:
    """Run ``purge-materials``; return the exit status."""
    return retention_main(argv, name="purge-materials", doc=__doc__, default_days=lambda s: s.material_retention_days,
                          setting="RW_MATERIAL_RETENTION_DAYS", run=_run)
