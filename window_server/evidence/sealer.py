"""Sealing a session's evidence when it has ended, and logging purges in the seal log.

``seal(sid)`` closes the recording (``finalize``), writes the seal-time items (facts, events,
materials with their verdicts, notes, the recording's manifest, the materials PDF, the summary
page) durably under ``<data_dir>/evidence`` by their SHA-256, and then, in one Redis script,
chains them (with every still's three variants, whose bytes are in the materials store already)
after the chunks chained while the call ran and appends the signed seal to the seal log. A
process that dies before that script leaves only unreferenced files; a re-run writes the same
files and seals. Two nodes sealing the same session at once: one script wins, the other finds
the seal (``{sealed}``) and stops; there is never a second seal of a session.

``run_sealer`` runs on every node: it claims due sessions from ``rw:t:seal`` (a lease, so a node
that dies mid-seal leaves the session to the next) and seals them.

``record_purge`` appends a signed purge entry (what was deleted, by whom) to the seal log, so a
package of a purged session verifies as purged and the log's links stay whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from window_server.documents.compose import compose_pdf
from window_server.domain import errors
from window_server.domain.session import ENDED_STATES
from window_server.evidence.chain import canonical, format_head, parse_head, sha256_hex
from window_server.evidence.keys import SealKey
from window_server.evidence.package import SIGNATURE_RECORD as RECORD_KIND
from window_server.evidence.package import Blobs, render_summary
from window_server.evidence.seal_store import SealStore
from window_server.evidence.store import MAX_RETRIES, ChainContended, next_entry
from window_server.queue.outcomes_store import OutcomesStore
from window_server.queue.store import QueueStore
from window_server.runtime.tasks import cancelled, pause

log = logging.getLogger(__name__)

Finalize = Callable[[str, int], Awaitable[dict[str, Any]]]
"""``RecordingService.finalize(sid, now_ms)``: close the recording, return its manifest."""

LEASE_MS = 600_000  # a claimed session is the claimer's this long; then any node may seal it
RETRY_MS = 60_000  # a seal that failed is tried again this much later
#: What a purge entry may name: kinds of chain items ("chunk", "still", …) or "<kind>:<ref>".
PURGEABLE = ("chunk", "still", "pdf", "notes", "summary", "events", "materials", "recording", "facts", "delivery")
#: Seal-time items kept in the evidence store that a purge of their kind deletes with it.
EVIDENCE_KINDS = frozenset({"pdf", "notes", "summary", "events", "materials", "recording", "facts", "delivery"})


class MaterialsReader(Protocol):
    """The session's materials with their current verdicts (``MaterialStore.list``)."""

    async def list(self, sid: str) -> list[dict[str, Any]]: ...


class PdfComposer(Protocol):
    """The accepted pages as one PDF (``DocumentPool.compose_pdf``)."""

    async def compose_pdf(self, images: Sequence[bytes], *, title: str | None = None) -> bytes: ...


class ThreadPdf:
    """``compose_pdf`` in a thread: for the command line, which has no document workers."""

    async def compose_pdf(self, images: Sequence[bytes], *, title: str | None = None) -> bytes:
        return await asyncio.to_thread(compose_pdf, images, title=title)


@dataclass(frozen=True)
class Sealed:
    sid: str
    seq: int
    new: bool  # False: it was sealed already (by this call's rival, or earlier)


@dataclass(frozen=True)
class _Item:
    kind: str
    ref: str
    sha256: str


class Sealer:
    """Seals ended sessions, logs purges; the one writer of the seal log."""

    def __init__(
        self,
        *,
        seals: SealStore,
        sessions: QueueStore,
        materials: MaterialsReader,
        pdf: PdfComposer,
        finalize: Finalize,
        key: SealKey,
        data_dir: Path,
        tz: str = "Asia/Shanghai",
    ) -> None:
        self.seals = seals
        self.sessions = sessions
        self.materials = materials
        self.pdf = pdf
        self.finalize = finalize
        self.key = key
        self.blobs = Blobs.under(data_dir)
        self.tz = tz

    def now_ms(self) -> int:
        return self.sessions.now_ms()

    # --- sealing -------------------------------------------------------------------------------

    async def refusal(self, sid: str) -> errors.RemoteWindowError | None:
        """Why ``sid`` may not be sealed now (None: it may): unknown, or still open or ratable."""
        state = await self.sessions.session_field(sid, "state")
        if state is None:
            return errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        if state not in ENDED_STATES or await self.seals.is_active(sid):
            return errors.Conflict(f"session {sid} is {state} and still open (or may still be rated): "
                                   "its evidence is sealed once it has ended", code="illegal_transition")
        return None

    async def seal(self, sid: str, now: int | None = None) -> Sealed:
        """Seal the session's evidence (idempotent); raise if it has not ended."""
        seq = await self.seals.seal_seq(sid)
        if seq is not None:
            return Sealed(sid, seq, False)
        if (refusal := await self.refusal(sid)) is not None:
            raise refusal
        now = now or self.now_ms()
        recording = await self.finalize(sid, now)
        base, docs = await self._items(sid, recording)
        for attempt in range(MAX_RETRIES):
            if attempt:  # a chunk landed since: the recording's manifest counts it too
                recording = await self.finalize(sid, now)
                sha = await self.blobs.evidence.put(_json(recording))
                base = [_Item(it.kind, it.ref, sha) if it.kind == "recording" else it for it in base]
            chain_raw = await self.seals.chain_head(sid)
            count, _head = parse_head(chain_raw)
            live = [json.loads(raw) for raw in await self.seals.chain_entries(sid, count)]
            summary = render_summary(
                facts=docs["facts"], events=docs["events"], materials=docs["materials"], recording=recording,
                items=[*live, *({"n": count + i, "kind": it.kind, "ref": it.ref, "sha256": it.sha256}
                                for i, it in enumerate(base))],
                key=self.key.id, at=now, tz=self.tz)
            items = [*base, _Item("summary", "summary.html", await self.blobs.evidence.put(summary))]
            triples: list[tuple[str, str, str]] = []
            cur = chain_raw or ""
            for it in items:
                triple = next_entry(cur, kind=it.kind, ref=it.ref, sha256=it.sha256, at=now)
                triples.append(triple)
                cur = triple[2]
            sealed = await self._append_seal(sid, chain_raw or "", triples, cur, now)
            if sealed is not None:
                return sealed
        raise ChainContended(f"session {sid}: the evidence chain kept moving while it was sealed")

    async def _append_seal(self, sid: str, chain_expected: str, triples: list[tuple[str, str, str]],
                           chain_new: str, now: int) -> Sealed | None:
        """Sign and append the seal; None when the chain moved (rebuild), retried while the log moves."""
        count, head = parse_head(chain_new)
        for _ in range(MAX_RETRIES):
            log_raw = await self.seals.log_head()
            seq, prev = parse_head(log_raw)
            seal = {"kind": "seal", "sid": sid, "count": count, "head": head, "at": now, "seq": seq, "prev": prev,
                    "key": self.key.id}
            seal["sig"] = self.key.sign(canonical(seal))
            raw = canonical(seal)
            reply = await self.seals.append_seal(
                sid, chain_expected=chain_expected, chain_entries=triples, log_expected=log_raw or "",
                entry=raw.decode(), log_new_head=format_head(seq + 1, sha256_hex(raw)), seq=seq)
            if "ok" in reply:
                log.info("evidence of session %s sealed: %d items, seal log entry %d", sid, count, seq)
                return Sealed(sid, int(reply["ok"]), True)
            if "sealed" in reply:
                return Sealed(sid, int(reply["sealed"]), False)
            if reply.get("retry") == "chain":
                return None
        raise ChainContended("the seal log kept moving")

    async def _items(self, sid: str, recording: dict[str, Any]) -> tuple[list[_Item], dict[str, Any]]:
        """The seal-time items but the summary, their bytes stored; and the documents the summary shows."""
        s = await self.sessions.session(sid)
        events = await self.sessions.session_events(sid)
        notes = await self.sessions.notes(sid)
        materials = await self.materials.list(sid)
        facts = await self._facts(sid, s, recording)
        put = self.blobs.evidence.put
        items = [
            _Item("facts", "facts.json", await put(_json(facts))),
            _Item("events", "events.jsonl", await put(_jsonl(events))),
            _Item("materials", "materials.json", await put(_json({"sid": sid, "materials": materials}))),
            _Item("notes", "notes.json", await put(_json({
                "sid": sid, "notes": notes, "rating_comment": s.get("rating_comment", ""),
                "chat": await self.sessions.chat_log(sid),  # issue 18: the text beside the video
                "transfer_reasons": [{"at": x.get("at"), "reason": x.get("reason", ""),
                                      "result_reason": x.get("result_reason", "")}
                                     for x in _loads(s.get("transfers"), [])]}))),
            _Item("recording", "recording.json", await put(_json(recording))),
        ]
        delivery = await OutcomesStore(self.sessions.redis).delivery(sid)  # issue 18: in full, only here
        if delivery:
            items.append(_Item("delivery", "delivery.json", await put(_json({"sid": sid, "delivery": delivery}))))
        if signatures := await self._signatures(sid):  # issue 18 (signing): one index of those chained
            items.append(_Item("signatures", "signatures.json", await put(_json({"sid": sid, "signatures": signatures}))))
        for m in materials:
            for variant, field in (("original", "sha256"), ("corrected", "corrected_sha256"), ("thumb", "thumb_sha256")):
                if m.get(field):
                    items.append(_Item("still", f"{m['id']}/{variant}", str(m[field])))
        accepted = [m for m in materials if (m.get("review") or {}).get("verdict") == "accepted"]
        if accepted:
            pages = [await self.blobs.materials.get(m.get("corrected_sha256") or m["sha256"]) for m in accepted]
            pdf = await self.pdf.compose_pdf(pages, title=f"{sid} materials")
            items.append(_Item("pdf", "materials.pdf", await put(pdf)))
        return items, {"facts": facts, "events": events, "materials": materials}

    async def _signatures(self, sid: str) -> list[dict[str, Any]]:
        """The records of the signatures chained while the session ran (``signatures/<n>.json``), in order.

        Read from the chain and the evidence store, so every sealer (the service, the command line)
        writes the same ``signatures.json`` without knowing the signing feature.
        """
        count, _head = parse_head(await self.seals.chain_head(sid))
        out = []
        for raw in await self.seals.chain_entries(sid, count):
            e = json.loads(raw)
            if e["kind"] == RECORD_KIND:
                out.append(json.loads(await self.blobs.evidence.get(str(e["sha256"]))))
        return out

    async def _facts(self, sid: str, s: dict[str, str], recording: dict[str, Any]) -> dict[str, Any]:
        """The session's facts: who, where, when, what came of it (no free text: that is notes.json)."""
        served = [str(a) for a in _loads(s.get("served"), [])]
        centres = await self.sessions.agents_field(served, "centre") if served else []
        specialists = [{"id": a, "centre": c or ""} for a, c in zip(served, centres, strict=True)]
        transfers = [{k: v for k, v in x.items() if k not in ("reason", "result_reason")}
                     for x in _loads(s.get("transfers"), [])]
        identity = _loads(s.get("identity"), None)
        rating = s.get("rating")
        return {
            "sid": sid, "ticket": s.get("ticket", ""), "state": s.get("state", ""), "matter": s.get("matter", ""),
            "region": s.get("region", ""), "lang": s.get("lang", ""), "priority": s.get("priority", ""),
            "source": s.get("source", ""), "consent": s.get("consent") == "1",
            "booth": s.get("booth", ""), "intake_centre": s.get("intake_centre", ""),
            "parties": {"booth": s.get("booth", ""), "specialists": specialists},
            "centres": list(dict.fromkeys(c for c in (s.get("intake_centre", ""), *(x["centre"] for x in specialists))
                                          if c)),
            "times": {k: _int(s.get(k)) for k in ("created", "answered", "ended", "rated_at")},
            "outcome": s.get("outcome", ""), "case_number": s.get("case_number", ""),
            "missing": _loads(s.get("missing"), []), "delivery": _loads(s.get("delivery"), None),  # masked
            "identity": identity, "identity_result": s.get("identity_result", ""),
            "rating": _int(rating), "transfers": transfers,
            "recording": {"state": recording.get("state", ""), "segments": len(recording.get("segments") or [])},
        }

    # --- the due queue --------------------------------------------------------------------------

    async def seal_due(self, limit: int = 20, now: int | None = None) -> int:
        """Seal the sessions due by now that this node could claim; return how many were sealed."""
        now = now or self.now_ms()
        done = 0
        for sid in await self.seals.due(now, limit):
            if not await self.seals.claim(sid, now, now + LEASE_MS):
                continue  # another node has it
            try:
                if (refusal := await self.refusal(sid)) is not None and await self.seals.seal_seq(sid) is None:
                    if isinstance(refusal, errors.NotFound):
                        log.warning("seal of session %s dropped: no such session", sid)
                        await self.seals.done(sid)
                    else:  # back in use (cannot happen today): try when it ends again
                        await self.seals.schedule(sid, now + RETRY_MS)
                    continue
                result = await self.seal(sid, now)
            except Exception:
                if cancelled():
                    raise
                log.exception("seal of session %s failed; tried again in %d s", sid, RETRY_MS // 1000)
                await self.seals.schedule(sid, now + RETRY_MS)
                continue
            await self.seals.done(sid)
            done += result.new
        return done

    # --- purges ---------------------------------------------------------------------------------

    async def record_purge(self, sid: str, what: Sequence[str], *, by: str = "system", why: str = "",
                           now: int | None = None) -> int:
        """Log that ``what`` of the session's items were deleted; delete the evidence-store ones; return the entry's index.

        ``what`` names kinds of chain items (``chunk``, ``still``, ``pdf``, ``notes``, …) or single
        items as ``<kind>:<ref>``. Call it when the deletion is decided, before or right after the
        bytes go: the entry says the absence is the purge's, not tampering.
        """
        what = sorted(dict.fromkeys(what))
        for w in what:
            if w.partition(":")[0] not in PURGEABLE:
                raise errors.InvalidInput(f"cannot purge {w!r}: one of {', '.join(PURGEABLE)} (or kind:ref)",
                                          field="what")
        now = now or self.now_ms()
        for _ in range(MAX_RETRIES):
            log_raw = await self.seals.log_head()
            seq, prev = parse_head(log_raw)
            entry: dict[str, Any] = {"kind": "purge", "sid": sid, "what": what, "by": by, "why": why, "at": now,
                                     "seq": seq, "prev": prev, "key": self.key.id}
            entry["sig"] = self.key.sign(canonical(entry))
            raw = canonical(entry)
            reply = await self.seals.append_purge(sid, log_expected=log_raw or "", entry=raw.decode(),
                                                  log_new_head=format_head(seq + 1, sha256_hex(raw)), seq=seq)
            if "ok" in reply:
                break
        else:
            raise ChainContended("the seal log kept moving")
        log.info("purge of session %s logged: %s (seal log entry %d)", sid, ", ".join(what), seq)
        await self._delete_evidence(sid, what)
        return seq

    async def _delete_evidence(self, sid: str, what: Sequence[str]) -> None:
        """Delete the session's seal-time items of the purged kinds from the evidence store."""
        seq = await self.seals.seal_seq(sid)
        seal = None if seq is None else await self.seals.entry(seq)
        if seal is None:
            return
        for raw in await self.seals.chain_entries(sid, int(seal["count"])):
            e = json.loads(raw)
            if e["kind"] in EVIDENCE_KINDS and (e["kind"] in what or f"{e['kind']}:{e['ref']}" in what):
                await self.blobs.evidence.delete(e["sha256"])


async def run_sealer(sealer: Sealer, interval: float = 2.0) -> None:
    """Seal due sessions every ``interval`` seconds until cancelled (a failed round is logged)."""
    while True:
        await pause(interval)
        try:
            while await sealer.seal_due() and not cancelled():
                pass  # a full batch: take the next at once
        except Exception:  # Redis away: the next round tries again
            if cancelled():
                raise asyncio.CancelledError from None
            log.exception("sealing round failed")


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def _jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(canonical(r) + b"\n" for r in rows)


def _loads(raw: str | None, default: Any) -> Any:
    """A JSON field of the session hash; ``default`` when empty (Lua writes an empty list as ``{}``)."""
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        return default
    return default if value == {} and isinstance(default, list) else value


def _int(raw: Any) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None
