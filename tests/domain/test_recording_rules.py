"""The recording's rules: where a leg ends, a segment's gaps, the recording's state (pure)."""

from __future__ import annotations

from typing import Any

from window_server.domain import recording as R

START = 1_000_000


def chunk(t: int, frm: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"sha256": "0" * 64, "size": 10, "t": t}
    if frm is not None:
        c["from"] = frm
    return c


def meta(**extra: Any) -> dict[str, Any]:
    return {"n": 0, "started_at": START, **extra}


def test_a_segment_ended_with_every_chunk_is_complete() -> None:
    s = R.summarize(meta(count=3, end_t=12_050), {0: chunk(4000), 1: chunk(8000), 2: chunk(12_000)}, inferred_end=None)
    assert (s["complete"], s["gaps"], s["duration_ms"], s["chunks"]) == (True, [], 12_000, 3)


def test_a_missing_middle_chunk_is_a_gap_where_it_was() -> None:
    s = R.summarize(meta(count=3, end_t=12_000), {0: chunk(4000), 2: chunk(12_000, frm=8000)}, inferred_end=None)
    assert s["complete"] is False and s["missing_chunks"] == [1]
    assert s["gaps"] == [{"from": START + 4000, "to": START + 8000}]


def test_a_booth_that_died_leaves_the_tail_as_a_gap_up_to_the_legs_end() -> None:
    s = R.summarize(meta(), {0: chunk(4000), 1: chunk(8000)}, inferred_end=START + 14_500)
    assert s["complete"] is False
    assert s["gaps"] == [{"from": START + 8000, "to": START + 14_500}]
    assert s["ended_at"] == START + 14_500


def test_the_leg_ends_when_the_call_leaves_the_specialist_or_a_transfer_hands_it_on() -> None:
    events = [
        {"ts": str(START - 5), "from": "offered", "to": "in_service"},
        {"ts": str(START + 10), "from": "in_service", "to": "transferring"},  # warm: the call goes on
        {"ts": str(START + 20), "from": "transferring", "to": "in_service"},  # accepted: a new specialist
    ]
    assert R.leg_end(START, events) == START + 20
    assert R.leg_end(START, [{"ts": str(START + 7), "from": "in_service", "to": "reconnecting"}]) == START + 7
    assert R.leg_end(START, [{"ts": str(START + 9), "from": "in_service", "to": "completed"}]) == START + 9
    assert R.leg_end(START, [{"ts": str(START + 9), "act": "note"}]) is None


def test_the_recordings_state() -> None:
    done = {"complete": True}
    gap = {"complete": False}
    assert R.overall([], failed=False, finalized=True) is R.RecState.NONE
    assert R.overall([done], failed=False, finalized=False) is R.RecState.RECORDING
    assert R.overall([done, done], failed=False, finalized=True) is R.RecState.COMPLETE
    assert R.overall([done, gap], failed=False, finalized=True) is R.RecState.INCOMPLETE
    assert R.overall([done], failed=True, finalized=True) is R.RecState.FAILED
