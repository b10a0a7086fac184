"""The recording's rules (pure): who uploads and plays, what a segment is, where its gaps are.

A session's recording is a list of segments, one per call leg (from the moment media flows with a
specialist until that specialist is no longer the one on the call: a transfer, a reconnect, the
end). Each segment is the chunks the booth's MediaRecorder cut, in order; ``t`` of a chunk is its
end and ``from`` its start, in ms since the segment's recorder started. A segment is complete
when it was ended explicitly and every chunk up to its count is there; otherwise the missing
spans are its gaps, in epoch ms, so a timeline can show them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from window_server.domain.auth import Principal
from window_server.domain.materials import SessionParties, is_booth_side, may_add, may_view
from window_server.domain.session import HELD_STATES, State

MIME = "video/webm"
MAX_SEGMENTS = 200
MAX_CHUNKS = 100_000  # a segment's chunk numbers: 4 s chunks for over four days
MIN_GAP_MS = 1  # a missing span shorter than this is rounding, not a gap


class RecState(StrEnum):
    """A session's recording as a whole."""

    NONE = "none"  # no call had media
    RECORDING = "recording"  # a segment is open (or the session is not finalized yet)
    COMPLETE = "complete"  # finalized: every segment complete
    INCOMPLETE = "incomplete"  # finalized: a segment has gaps or was never ended
    FAILED = "failed"  # chunks could not be stored (disk): the console was told
    PURGED = "purged"  # retention deleted the chunks (the seal log says so)


#: A leg with its specialist goes on through these states; any other ends it.
LEG_STATES = frozenset({State.IN_SERVICE, State.TRANSFERRING})


def may_upload(principal: Principal, parties: SessionParties) -> bool:
    """The session's booth, or the specialist holding it (as for stills)."""
    return may_add(principal, parties)


def may_play(principal: Principal, parties: SessionParties) -> bool:
    """Its specialists and the managers of its centres; never a booth (a public place)."""
    return not is_booth_side(principal) and may_view(principal, parties)


def may_start(state: str) -> bool:
    """A segment starts only while a specialist holds the session."""
    return state in HELD_STATES


def leg_end(started_at: int, events: Sequence[Mapping[str, str]]) -> int | None:
    """When the leg a segment records ended, from the session's events (None: not yet)."""
    for e in events:
        ts = int(e.get("ts") or 0)
        if ts < started_at or not e.get("to"):
            continue
        to, frm = e["to"], e.get("from", "")
        if to not in LEG_STATES or (to == State.IN_SERVICE and frm == State.TRANSFERRING):
            return ts  # the call left the specialist, or a transfer handed it to another one
    return None


def summarize(meta: Mapping[str, Any], chunks: Mapping[int, Mapping[str, Any]], *,
              inferred_end: int | None) -> dict[str, Any]:
    """One segment as viewers see it: times, size, whether complete, and its gaps (epoch ms)."""
    start = int(meta["started_at"])
    count = meta.get("count")  # set by an explicit end
    end_t = meta.get("end_t")
    seqs = sorted(chunks)
    gaps: list[dict[str, int]] = []
    covered = 0  # ms since start up to which chunks are contiguous
    expected = 0
    for seq in seqs:
        c = chunks[seq]
        c_from = int(c.get("from", covered if seq == expected else c["t"]))
        if seq != expected and c_from - covered >= MIN_GAP_MS:
            gaps.append({"from": start + covered, "to": start + c_from})
        covered = max(covered, int(c["t"]))
        expected = seq + 1
    if end_t is not None:
        end_ms: int | None = start + int(end_t)
    elif inferred_end is not None:
        end_ms = max(inferred_end, start + covered)
    else:
        end_ms = None
    tail_missing = expected < int(count) if count is not None else True
    if end_ms is not None and tail_missing and end_ms - (start + covered) >= MIN_GAP_MS:
        gaps.append({"from": start + covered, "to": end_ms})
    missing = [] if count is None else [s for s in range(int(count)) if s not in chunks]
    complete = count is not None and not missing and not gaps
    return {
        "n": int(meta["n"]), "started_at": start, "ended_at": end_ms, "ended_by": meta.get("ended_by", ""),
        "present": meta.get("present", []), "mime": meta.get("mime", MIME),
        "chunks": len(seqs), "bytes": sum(int(chunks[s]["size"]) for s in seqs),
        "duration_ms": covered, "complete": complete, "missing_chunks": missing, "gaps": gaps,
    }


def overall(segments: Sequence[Mapping[str, Any]], *, failed: bool, finalized: bool) -> RecState:
    """The recording's state from its segments."""
    if failed:
        return RecState.FAILED
    if not segments:
        return RecState.NONE
    if not finalized:
        return RecState.RECORDING
    return RecState.COMPLETE if all(s["complete"] for s in segments) else RecState.INCOMPLETE
