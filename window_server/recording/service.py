"""Recordings: open a segment, store a chunk (fsynced, hashed, chained), end it, play it back.

The booth's kiosk records the call (docs/recording.md) and uploads a chunk every few seconds; the
server stores bytes and never decodes or re-encodes them. A chunk is answered only once it is on
disk (fsynced) under its SHA-256 and recorded and chained in Redis. When a chunk cannot be
written (a full disk, an I/O error) the recording is marked failed, both parties are told
(``recording_status`` failed: the console shows 录制异常) and chunks are refused with 507 until
the disk is back; the specialist decides whether to go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from window_server.domain import errors
from window_server.domain import materials as M
from window_server.domain import recording as R
from window_server.domain.auth import Principal, Role, can_manage_centre
from window_server.domain.session import ENDED_STATES, HELD_STATES
from window_server.queue.store import QueueStore
from window_server.recording.remux import cache_name, remux
from window_server.recording.store import RecordingStore
from window_server.store.blobs import FileBlobStore, sha256_hex

log = logging.getLogger(__name__)

Parties = Callable[[str], Awaitable[M.SessionParties]]
Notify = Callable[[str, dict[str, Any], str, str], Awaitable[None]]  # (state, payload, booth, agent)

MAX_LIST = 200


class RecordingUnavailable(errors.RemoteWindowError):
    """Chunks cannot be stored now (the disk): 507, the recording is marked failed."""

    code = "recording_unavailable"
    http_status = 507


def _closed(message: str) -> errors.RemoteWindowError:
    return errors.Conflict(message, code="recording_closed")


@dataclass(frozen=True)
class Stored:
    """A chunk's answer: ``created`` False when the same bytes were stored before."""

    created: bool
    chunk: dict[str, Any]


class RecordingService:
    """Segments and chunks of session recordings, and their playback."""

    def __init__(self, *, store: RecordingStore, sessions: QueueStore, blobs: FileBlobStore, parties: Parties,
                 notify: Notify | None = None) -> None:
        self.store = store
        self.sessions = sessions
        self.blobs = blobs
        self.parties = parties
        self.notify = notify
        self._remuxing: dict[str, asyncio.Lock] = {}

    def now_ms(self) -> int:
        return self.sessions.now_ms()

    async def _member(self, principal: Principal, sid: str) -> M.SessionParties:
        """The parties if ``principal`` may upload to ``sid``: 403 ``not_member`` (unknown sessions too)."""
        return await self._allowed(principal, sid, R.may_upload, f"you are not a member of session {sid}")

    async def viewer(self, principal: Principal, sid: str) -> M.SessionParties:
        """The parties if ``principal`` may play ``sid``'s recording: 403 ``not_member`` otherwise."""
        return await self._allowed(principal, sid, R.may_play, f"you may not see the recording of session {sid}")

    async def _allowed(self, principal: Principal, sid: str,
                       rule: Callable[[Principal, M.SessionParties], bool], refusal: str) -> M.SessionParties:
        """A session that does not exist gets the answer of one that is not yours (no probing)."""
        try:
            parties = await self.parties(sid)
        except errors.NotFound:
            raise errors.Forbidden(refusal, code="not_member", field="sid") from None
        if not rule(principal, parties):
            raise errors.Forbidden(refusal, code="not_member", field="sid")
        return parties

    # --- recording ----------------------------------------------------------------------------

    async def start_segment(self, principal: Principal, sid: str, *, mime: str, width: int, height: int
                            ) -> dict[str, Any]:
        """Open the next segment: the call leg with the specialist holding the session now."""
        parties = await self._member(principal, sid)
        now = self.now_ms()
        agent_centre = ""
        if parties.agent:
            agent_centre = (await self.sessions.agents_field([parties.agent], "centre"))[0] or ""
        present = [{"role": "booth", "id": parties.booth}]
        if parties.agent:
            present.append({"role": "specialist", "id": parties.agent, "centre": agent_centre})
        meta = {"present": present, "mime": mime, "width": width, "height": height, "by": M.viewer_tag(principal)}
        reply = await self.store.start_segment(
            sid, meta, held=sorted(HELD_STATES), now=now, agents=[parties.agent],
            centres=[parties.intake_centre, agent_centre])
        if err := reply.get("err"):
            if err == "illegal_transition":
                raise errors.Conflict(f"session {sid} is {reply.get('state')}: no call to record",
                                      code="illegal_transition")
            if err == "recording_closed":
                raise _closed(f"the recording of session {sid} is sealed")
            raise errors.Forbidden(f"you are not a member of session {sid}", code="not_member", field="sid")
        segment: dict[str, Any] = reply["ok"]
        log.info("recording session=%s segment=%s started by=%s", sid, segment["n"], M.viewer_tag(principal))
        await self._tell(sid, {"state": "recording", "segment": segment["n"]}, parties)
        return {k: segment[k] for k in ("n", "started_at", "present")}

    async def admit_chunk(self, principal: Principal, sid: str) -> None:
        """Refuse before the body is read: a non-member, or a sealed recording."""
        await self._member(principal, sid)
        if await self.store.sealed(sid):
            raise _closed(f"the recording of session {sid} is sealed")

    async def put_chunk(self, principal: Principal, sid: str, n: int, seq: int, data: bytes, *,
                        t: int, start: int | None, digest: str = "") -> Stored:
        """Store one chunk: fsynced under its SHA-256, then recorded and chained; then answered."""
        sha = await asyncio.to_thread(sha256_hex, data)
        if digest and digest != sha:
            raise errors.InvalidInput("the body's SHA-256 is not X-Content-SHA256", code="digest_mismatch")
        try:
            await self.blobs.put(data)
        except errors.StorageFull:  # 507 storage_full: nothing stored, and the recording has a hole now
            await self._failed(sid, "chunk not stored: the storage is full")
            raise
        except OSError as exc:
            await self._failed(sid, f"chunk not stored: {exc.strerror or type(exc).__name__}")
            raise RecordingUnavailable("the recording cannot be stored now; it is marked failed") from None
        now = self.now_ms()
        chunk: dict[str, Any] = {"seq": seq, "sha256": sha, "size": len(data), "t": t, "at": now}
        if start is not None:
            chunk["from"] = start
        reply = await self.store.add_chunk(sid, n, seq, chunk, now)
        if err := reply.get("err"):
            if err == "unknown_segment":
                raise errors.NotFound(f"session {sid} has no segment {n}", code="unknown_segment", field="n")
            if err == "chunk_conflict":
                raise errors.Conflict(f"chunk {seq} of segment {n} was stored with other bytes", code="chunk_conflict")
            raise _closed(f"segment {n} of session {sid} takes no more chunks")
        if "dup" in reply:
            return Stored(False, reply["dup"])
        return Stored(True, reply["ok"])

    async def end_segment(self, principal: Principal, sid: str, n: int, *, count: int, t: int) -> dict[str, Any]:
        parties = await self._member(principal, sid)
        reply = await self.store.end_segment(sid, n, count=count, t=t, now=self.now_ms())
        if reply.get("err"):
            raise errors.NotFound(f"session {sid} has no segment {n}", code="unknown_segment", field="n")
        await self._tell(sid, {"state": "stopped", "segment": n}, parties)
        return dict(reply["ok"])

    async def _failed(self, sid: str, error: str) -> None:
        log.error("recording session=%s failed: %s", sid, error)
        try:
            first = await self.store.fail(sid, error, self.now_ms())
            parties = await self.parties(sid)
        except Exception:  # the disk and Redis at once: the log line above is what is left
            log.exception("recording session=%s: the failure could not be recorded", sid)
            return
        if first:
            await self._tell(sid, {"state": "failed", "error": error}, parties)

    async def _tell(self, sid: str, payload: dict[str, Any], parties: M.SessionParties) -> None:
        if self.notify is not None:
            try:
                await self.notify(sid, payload, parties.booth, parties.agent)
            except Exception:  # a push that fails must not undo what was stored
                log.exception("recording session=%s: recording_status not pushed", sid)

    # --- reading -------------------------------------------------------------------------------

    async def manifest(self, sid: str) -> dict[str, Any]:
        """The recording as viewers and the evidence see it: state, segments with their gaps."""
        rec = await self.store.recording(sid)
        count = int(rec.get("segments") or 0)
        segments = await self.store.segments(sid, count)
        events = await self.sessions.session_events(sid)
        ended = None
        state, ended_raw = await self.sessions.session_fields(sid, ["state", "ended"])
        if state in ENDED_STATES:
            ended = int(ended_raw or 0) or None
        out = []
        for i, (meta, chunks) in enumerate(segments):
            nxt = int(segments[i + 1][0]["started_at"]) if i + 1 < len(segments) else None
            candidates = [x for x in (meta.get("ended_at") if meta.get("ended_by") == "next_segment" else None,
                                      nxt, R.leg_end(int(meta["started_at"]), events), ended) if x]
            out.append(R.summarize(meta, chunks, inferred_end=min(candidates) if candidates else None))
        finalized = bool(rec.get("finalized"))
        st = R.RecState.PURGED if rec.get("state") == "purged" else R.overall(
            out, failed=bool(rec.get("error")), finalized=finalized)
        return {"sid": sid, "state": st.value, "segments": out, "error": rec.get("error", ""),
                "finalized": int(rec.get("finalized") or 0) or None}

    async def finalize(self, sid: str, now_ms: int) -> dict[str, Any]:
        """Close the recording (at seal time): every segment ended, its state and gaps fixed."""
        rec = await self.store.recording(sid)
        if not rec:
            return {"sid": sid, "state": R.RecState.NONE.value, "segments": [], "error": "", "finalized": now_ms}
        if not rec.get("finalized"):
            await self.store.finalize(sid, "recording", now_ms)  # manifest() now judges it final
        m = await self.manifest(sid)
        await self.store.finalize(sid, m["state"], int(m["finalized"] or now_ms))
        log.info("recording session=%s finalized: %s, %d segments", sid, m["state"], len(m["segments"]))
        return m

    async def view(self, principal: Principal, sid: str) -> dict[str, Any]:
        """The manifest and the session's timeline, for a player."""
        await self.viewer(principal, sid)
        m = await self.manifest(sid)
        events: list[dict[str, str]] = [{k: e[k] for k in ("ts", "act", "by", "from", "to", "party", "to_agent", "to_centre", "outcome")
                   if e.get(k)} for e in await self.sessions.session_events(sid)]
        return {"recording": m, "events": events}

    async def playable(self, principal: Principal, sid: str, n: int) -> Path:
        """The segment as one seekable WebM file (built once, from the stored chunks)."""
        await self.viewer(principal, sid)
        rec = await self.store.recording(sid)
        if rec.get("state") == "purged":
            raise errors.NotFound(f"the recording of session {sid} was purged", code="recording_purged")
        segments = await self.store.segments(sid, int(rec.get("segments") or 0))
        found = [chunks for meta, chunks in segments if int(meta["n"]) == n]
        if not found or not found[0]:
            raise errors.NotFound(f"session {sid} has no recorded segment {n}", code="unknown_segment", field="n")
        chunks = found[0]
        shas = [chunks[s]["sha256"] for s in sorted(chunks)]
        out = self.blobs.root / "play" / cache_name(sid, n, shas)
        lock = self._remuxing.setdefault(out.name, asyncio.Lock())
        async with lock:
            try:
                await asyncio.to_thread(remux, [self.blobs.path(s) for s in shas], out)
            except FileNotFoundError:
                raise errors.NotFound(f"the recording of session {sid} is not stored here",
                                      code="recording_missing") from None
            finally:
                self._remuxing.pop(out.name, None)
        return out

    async def listing(self, principal: Principal, *, centre: str, status: str, limit: int) -> list[dict[str, Any]]:
        """Recordings the caller may list: their own sessions (specialists), their centres' (managers)."""
        limit = max(1, min(limit, MAX_LIST))
        if status == "incomplete":
            pairs = await self.store.listed("rec_incomplete", limit * 4)
        elif principal.role in (Role.SPECIALIST,) or (principal.role == Role.TEAM_LEAD and not centre):
            pairs = await self.store.listed("rec_by_agent", limit, aid=principal.subject)
        elif principal.role == Role.CHAIN_MANAGER and not centre:
            pairs = await self.store.listed("rec_all", limit)
        else:
            want = centre or principal.centre
            if not can_manage_centre(principal, want):
                raise errors.Forbidden(f"centre {want} is not yours", code="out_of_scope", field="centre")
            pairs = await self.store.listed("rec_by_centre", limit, centre=want)
        out: list[dict[str, Any]] = []
        for sid, at in pairs:
            try:
                parties = await self.parties(sid)
            except errors.NotFound:
                continue
            if R.may_play(principal, parties):
                out.append({"sid": sid, "at": at, "booth": parties.booth, "served": list(parties.served),
                            "intake_centre": parties.intake_centre, "state": parties.state})
            if len(out) >= limit:
                break
        states = await self.store.states([o["sid"] for o in out])
        for o, st in zip(out, states, strict=True):
            o["recording"] = st or R.RecState.RECORDING.value
        return out

