"""The preview's adaptation rules (citizen_client/adapt.py): pure, with an injected clock.

No loop, no network: each test feeds the controller what RTCP would say, at chosen times, and
reads the plans it makes for frames. One test encodes real frames with libvpx (PyAV).
"""

from __future__ import annotations

import fractions

import numpy as np
import pytest
from av import VideoFrame

from citizen_client.adapt import (
    LADDER,
    RUNG_UP_MARGIN,
    UP_HOLD_S,
    Controller,
    Plan,
    Vp8Stream,
    pick_rung,
)

FPS = 15.0


def run_frames(c: Controller, start: float, seconds: float, fps: float = FPS) -> list[tuple[float, Plan]]:
    """Offer the controller a source at ``fps`` (media time == wall time); the plans it made."""
    plans = []
    for n in range(round(seconds * fps)):
        t = start + n / fps
        plan = c.next_frame(t, t)
        if plan is not None:
            c.encoded(plan.keyframe or n == 0 and start == 0.0, t)
            plans.append((t, plan))
    return plans


def test_the_ladder_drops_frame_rate_before_resolution() -> None:
    sizes = [r.width * r.height for r in LADDER]
    assert sizes == sorted(sizes, reverse=True)
    full = [r for r in LADDER if (r.width, r.height) == (1280, 720)]
    assert [r.fps for r in full] == sorted((r.fps for r in full), reverse=True) and len(full) >= 3
    assert LADDER[len(full)].fps <= full[-1].fps  # resolution goes only once 720p is at its lowest rate
    assert [r.min_bps for r in LADDER] == sorted((r.min_bps for r in LADDER), reverse=True)


@pytest.mark.parametrize(("bps", "current", "expected"), [
    (1_400_000, 0, "720p15"),
    (719_000, 0, "720p10"),  # down as soon as the rung's minimum is not met
    (100_000, 0, "360p5"),  # several rungs at once
    (800_000, 1, "720p10"),  # 720p15's minimum met, but not with the margin: stay
    (int(720_000 * RUNG_UP_MARGIN), 1, "720p15"),
    (288_000, 3, "720p5"),  # up from 540p5 with the margin over 720p5's minimum ...
    (287_000, 3, "540p5"),  # ... and not without it
])
def test_pick_rung_has_hysteresis(bps: int, current: int, expected: str) -> None:
    assert LADDER[pick_rung(bps, current)].name == expected


def test_remb_caps_the_target_and_the_rate_steps_down_at_once() -> None:
    c = Controller(start_bps=1_200_000, now=0.0)
    run_frames(c, 0.0, 1.0)
    assert c.snapshot()["rung"] == "720p15"
    c.on_remb(350_000, 1.0)
    assert c.target_bps == 350_000
    plans = run_frames(c, 1.0, 1.0)
    assert plans[0][1].bps == 350_000 and plans[0][1].keyframe  # a re-open: a keyframe
    snap = c.snapshot()
    assert (snap["rung"], snap["width"], snap["fps"], snap["remb_bps"]) == ("720p5", 1280, 5, 350_000)
    assert all(p.bps <= 350_000 for _, p in plans)


def test_loss_over_10_percent_cuts_under_2_grows_between_holds() -> None:
    c = Controller(start_bps=1_000_000, now=0.0)
    c.on_report(0.20, 0.1, 1.0)
    assert c.loss_bps == pytest.approx(900_000)  # × (1 - 0.5 × 0.2)
    c.on_report(0.20, 0.1, 1.2)  # within 300 ms + RTT of the last cut: no second cut
    assert c.loss_bps == pytest.approx(900_000)
    c.on_report(0.05, 0.1, 2.0)
    assert c.loss_bps == pytest.approx(900_000)  # 2..10 %: hold
    c.on_report(0.0, 0.1, 3.0)
    assert c.loss_bps == pytest.approx(972_000)  # + 8 % a second
    assert c.snapshot()["loss"] == 0.0


def test_loss_is_judged_over_enough_packets_not_per_report() -> None:
    c = Controller(start_bps=1_000_000, now=0.0)
    c.on_receiver_report(0, 1000, 0.1, 1.0)
    c.on_receiver_report(1, 1002, 0.1, 1.1)  # 1 of 2 lost: too few packets to judge
    assert c.loss is None and c.loss_bps == pytest.approx(1_000_000)
    c.on_receiver_report(1, 1050, 0.1, 2.0)  # 1 of 50 lost: 2 %, hold
    assert c.loss == pytest.approx(0.02) and c.loss_bps == pytest.approx(1_000_000)
    c.on_receiver_report(31, 1150, 0.1, 3.0)  # 30 of 100 lost: cut
    assert c.loss == pytest.approx(0.30) and c.loss_bps == pytest.approx(850_000)


def test_the_target_never_passes_the_receivers_estimate_and_follows_it_up() -> None:
    c = Controller(start_bps=300_000, now=0.0)
    c.on_remb(500_000, 0.5)
    for s in range(1, 30):
        c.on_report(0.0, 0.05, float(s))
        assert c.target_bps <= 500_000
    assert c.target_bps == 500_000
    c.on_remb(700_000, 30.0)  # the receiver lifts its limit: no loss was seen, so follow it
    assert c.target_bps == 700_000
    c.on_report(0.30, 0.05, 31.0)  # heavy loss: cut from what is sent now, not from the estimate
    assert c.target_bps == pytest.approx(700_000 * 0.85)


def test_stepping_up_waits_for_a_steady_target() -> None:
    c = Controller(start_bps=400_000, now=0.0)
    run_frames(c, 0.0, 1.0)
    c.on_remb(1_500_000, 1.0)
    for s in range(2, 20):
        c.on_report(0.0, 0.05, float(s))
    assert c.target_bps >= 1_000_000
    plans = run_frames(c, 20.0, UP_HOLD_S + 1.0)
    changed = [t for t, p in plans if p.bps != 400_000]
    assert changed and changed[0] >= 20.0 + UP_HOLD_S  # not before the hold
    assert c.snapshot()["rung"] == "720p15"


def test_a_flapping_estimate_does_not_reopen_the_encoder_each_time() -> None:
    c = Controller(start_bps=1_000_000, now=0.0)
    run_frames(c, 0.0, 0.6)
    reopens = c.counts["reopens"]
    for s in range(10):  # ± 8 % around the encoder's rate: inside the dead band
        c.on_remb(1_080_000 if s % 2 else 920_000, 1.0 + s)
        run_frames(c, 1.0 + s, 1.0)
    assert c.counts["reopens"] == reopens


def test_keyframes_are_bounded_and_a_pending_pli_is_served_when_allowed() -> None:
    c = Controller(start_bps=1_000_000, now=0.0)
    run_frames(c, 0.0, 1.0)  # the first frame was the keyframe at 0
    c.on_report(0.0, 0.4, 1.0)  # RTT 400 ms: the bound is 0.8 s
    keys = []
    for n in range(45):  # 3 s at 15 fps, a PLI before every frame (a receiver in trouble)
        t = 1.0 + n / FPS
        c.on_pli(t)
        plan = c.next_frame(t, t)
        if plan is not None:
            c.encoded(plan.keyframe, t)
            if plan.keyframe:
                keys.append(t)
    assert keys and all(b - a >= 0.8 - 1e-9 for a, b in zip(keys, keys[1:], strict=False))
    assert len(keys) <= 4
    assert c.snapshot()["pli"] == 45


def test_recovery_after_a_3_s_drop_is_the_first_frame_back() -> None:
    c = Controller(start_bps=1_000_000, now=0.0)
    run_frames(c, 0.0, 2.0)
    # 3 s of nothing both ways; the link returns at 5.0 and the receiver asks for a picture
    c.on_pli(5.05)
    plan = c.next_frame(5.07, 5.07)
    assert plan is not None and plan.keyframe


@pytest.mark.parametrize(("rung", "expected"), [("720p15", 15), ("720p10", 10), ("720p5", 5), ("540p5", 5), ("360p5", 5)])
def test_frames_are_thinned_to_the_rungs_rate(rung: str, expected: int) -> None:
    bps = {r.name: r.min_bps for r in LADDER}[rung] or 100_000
    c = Controller(start_bps=bps, now=0.0)
    assert c.snapshot()["rung"] == rung
    plans = run_frames(c, 0.0, 4.0)
    assert len(plans) == pytest.approx(4 * expected, abs=1)


def frame(n: int, w: int = 1280, h: int = 720) -> VideoFrame:
    rng = np.random.default_rng(n)
    img = np.full((h, w, 3), 200, np.uint8)
    img[100:600:20, 100:1100] = rng.integers(0, 60, (25, 1000, 3), dtype=np.uint8)  # "lines of text"
    f = VideoFrame.from_ndarray(img, format="bgr24")
    f.pts, f.time_base = n * 6000, fractions.Fraction(1, 90_000)
    return f


def test_the_encoder_scales_keys_and_reopens_only_on_a_new_plan() -> None:
    enc = Vp8Stream()
    first = enc.encode(frame(0), Plan(640, 360, 300_000, keyframe=False))
    assert first is not None and first.is_keyframe and first.pts == 0
    codec = enc.codec
    delta = enc.encode(frame(1), Plan(640, 360, 300_000, keyframe=False))
    assert delta is not None and not delta.is_keyframe and enc.codec is codec
    forced = enc.encode(frame(2), Plan(640, 360, 300_000, keyframe=True))
    assert forced is not None and forced.is_keyframe and enc.codec is codec
    smaller = enc.encode(frame(3), Plan(320, 180, 150_000, keyframe=False))
    assert smaller is not None and smaller.is_keyframe and enc.codec is not codec
    assert (enc.codec.width, enc.codec.height) == (320, 180) and smaller.pts == 3 * 6000
