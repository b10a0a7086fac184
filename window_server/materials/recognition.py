"""The second phase of an upload: what the still is, what is written on it, and its masked rendition.

The upload answers with the quality verdict (fast); then a task of this node reads the still's
corrected page in the document workers (``DocumentPool.recognise``: class, OCR, mask boxes),
stores the masked rendition and its thumbnail, and lands everything in one Redis call
(``rw_material_recognised``): class, public recognition, reasons and verdict recomputed, the
fields read in full in a hash apart, a ``recognised`` event. Then the session's specialist and
booth are told (``material_recognised``).

A node that dies between the two phases leaves the still in ``rw:t:recognise``: every node
sweeps that set at start and then every ``SWEEP_S`` seconds for stills older than ``STALE_S``,
and recognises them again; the Redis call changes a record only while its class is null, so
doing it twice is harmless. Failures are logged with ids and the error's type, never with what
was read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from signaling.tasks import periodic
from window_server.documents.pool import DocumentPool, within
from window_server.documents.recognise import Recognition, unknown
from window_server.domain import errors
from window_server.domain import materials as M
from window_server.domain import recognition as R
from window_server.domain.catalogue import Catalogue
from window_server.materials.store import MaterialStore
from window_server.store.blobs import BlobStore

log = logging.getLogger(__name__)

SWEEP_S = 60.0
"""How often a node looks for stills whose recognition a dead node left unfinished."""
STALE_FACTOR = 3
"""A pending still older than this many document timeouts is taken as abandoned."""
MAX_TRIES = 5
"""Rounds of judging the ID sides again when another still of the session landed meanwhile."""


@dataclass(frozen=True)
class Recognised:
    """A still's recognition, landed: the whole record (with its review) and whom to tell what."""

    material: dict[str, Any]
    booth: str
    agent: str
    advice: M.Advice


Notify = Callable[[Recognised], Awaitable[None]]


class Recogniser:
    """The recognition tasks of one node: started after uploads, swept for, cancelled on close."""

    def __init__(
        self,
        *,
        store: MaterialStore,
        blobs: BlobStore,
        pool: DocumentPool,
        catalogue: Catalogue,
        timeout_s: float,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.pool = pool
        self.catalogue = catalogue
        self.timeout_s = timeout_s
        # OCR takes a worker for about a second: leave one for the next upload's quality check
        self._slots = asyncio.Semaphore(max(1, pool.workers - 1))
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[tuple[str, str]] = set()

    # --- tasks ------------------------------------------------------------------------------------

    def later(self, sid: str, material_id: str, notify: Notify) -> None:
        """Recognise a still in the background; ``notify`` tells the parties when it lands."""
        task = asyncio.create_task(self.run(sid, material_id, notify), name=f"recognise-{material_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, sid: str, material_id: str, notify: Notify) -> None:
        """Recognise one still and tell the parties; errors are logged (ids only), never raised."""
        job = (sid, material_id)
        if job in self._busy:
            return
        self._busy.add(job)
        try:
            done = await self.recognise(sid, material_id)
            if done is not None:
                await notify(done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a background task: log it and leave the still to the sweep
            log.warning("recognition of material %s session=%s failed: %s", material_id, sid, type(exc).__name__)
        finally:
            self._busy.discard(job)

    async def sweep(self, notify: Notify, *, older_than_s: float) -> int:
        """Recognise the stills left pending for longer than ``older_than_s``, one at a time."""
        pending = await self.store.pending(before_ms=self.store.now_ms() - int(older_than_s * 1000))
        jobs = [j for j in pending if j not in self._busy]
        for sid, material_id in jobs:
            await self.run(sid, material_id, notify)
        if jobs:
            log.info("recognised %d still(s) a stopped node had left pending", len(jobs))
        return len(jobs)

    async def run_sweeps(self, notify: Notify, interval_s: float = SWEEP_S) -> None:
        """At start, everything pending; then, every ``interval_s``, what has been pending too long."""
        try:
            await self.sweep(notify, older_than_s=0)
        except Exception:  # Redis down at start: the periodic sweep catches up
            log.warning("the first sweep for pending recognitions failed", exc_info=True)
        stale = STALE_FACTOR * self.timeout_s
        await periodic(interval_s, lambda: self.sweep(notify, older_than_s=stale), "recognition sweep")

    async def close(self) -> None:
        """Cancel the recognitions in flight and wait for them (the sweep finishes them later)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one still ----------------------------------------------------------------------------

    async def recognise(self, sid: str, material_id: str) -> Recognised | None:
        """Read the still, store its masked rendition, land the record; None if nothing to do."""
        m = await self.store.get(sid, material_id)
        if m is None or not _pending(m):
            await self.store.forget_pending(sid, material_id)
            return None
        rec, masked = await self._read(sid, m)
        masked_sha = masked_thumb_sha = None
        if masked is not None:
            thumb = await self._in_pool(self.pool.thumbnail(masked))
            masked_sha, masked_thumb_sha = await asyncio.gather(self.blobs.put(masked), self.blobs.put(thumb))
        private = rec.private()
        reading = private if any(v is not None for v in private.values()) else None
        for _ in range(MAX_TRIES):
            now = self.store.now_ms()
            today = self._today(now)
            records = await self.store.list(sid)
            this = next((r for r in records if r["id"] == material_id), None)
            if this is None or not _pending(this):
                await self.store.forget_pending(sid, material_id)
                return None
            side = R.sides(material_id, rec.cls, reading, records, await self.store.private(sid))
            reasons, verdict = R.with_reasons(this.get("reasons") or [], rec.reasons(this["kind"], today),
                                              [R.SIDES_MISMATCH] if side == "mismatch" else [])
            public = {**rec.public(today), "sides": side}
            record = {k: v for k, v in this.items() if k != "review"}
            record.update({"class": rec.cls, "recognition": public, "masked": masked_sha is not None,
                           "masked_sha256": masked_sha, "masked_thumb_sha256": masked_thumb_sha,
                           "reasons": reasons, "verdict": verdict})
            event = {"kind": str(this["kind"]), "class": rec.cls, "verdict": verdict, "reasons": ",".join(reasons)}
            if public.get("id_number_masked"):
                event["id_number_masked"] = str(public["id_number_masked"])
            if side is not None:
                event["sides"] = side
            pending = [r["id"] for r in records if r["id"] != material_id and _pending(r)]
            res = await self.store.recognised(sid, record, private=reading, pending=pending, event=event, now=now)
            if res.ok.get("retry"):
                continue
            if not res.ok.get("done"):
                return None
            log.info("material %s recognised session=%s class=%s verdict=%s reasons=%s", material_id, sid, rec.cls,
                     verdict, ",".join(reasons) or "-")
            landed = await self.store.get(sid, material_id) or {**record, "review": this.get("review")}
            return Recognised(landed, str(res.ok.get("booth") or ""), str(res.ok.get("agent") or ""),
                              await self._advice(sid, landed))
        log.warning("material %s session=%s: the ID sides changed %d times while judging; left pending",
                    material_id, sid, MAX_TRIES)
        return None

    async def _read(self, sid: str, m: dict[str, Any]) -> tuple[Recognition, bytes | None]:
        """The recognition of the still's corrected page (none: nothing to read, ``unknown``)."""
        if not m.get("corrected_sha256"):
            return unknown(), None
        corrected = await self.blobs.get(m["corrected_sha256"])
        try:
            async with self._slots:
                result: tuple[Recognition, bytes | None] = await self._in_pool(self.pool.recognise(corrected))
                return result
        except Exception as exc:  # a crashed worker, a timeout, a still it cannot read: the specialist decides
            # (never retried: a still that breaks the recogniser would take a worker every sweep)
            log.warning("material %s session=%s not recognised (%s); class unknown", m["id"], sid,
                        type(exc).__name__)
            return unknown(), None

    async def _in_pool(self, work: Awaitable[Any]) -> Any:
        return await within(work, self.timeout_s, "recognise a still")

    def _today(self, now_ms: int) -> date:
        """The date in the store's time zone (Asia/Shanghai): when a card expires."""
        return datetime.fromtimestamp(now_ms / 1000, self.store.store.tz).date()

    async def _advice(self, sid: str, m: dict[str, Any]) -> M.Advice:
        """The booth's words: the wrong document named in the catalogue's words, or the check's."""
        reasons = m.get("reasons") or []
        if "wrong_kind" not in reasons:
            return M.advice_for_check(m["verdict"], reasons)
        code = await self.store.store.session_field(sid, "matter") or ""
        try:
            material = self.catalogue.matter(code).material(m["kind"])
        except errors.NotFound:
            return M.ADVICE["wrong_kind"]
        return M.advice_wrong_kind(m["kind"], material.name_zh, material.name_en)


def _pending(record: dict[str, Any]) -> bool:
    """A still whose recognition has not landed (a record from before recognition has no class)."""
    return "class" in record and record["class"] is None
