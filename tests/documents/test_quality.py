"""Quality metrics on rectified pages and the reasons they give."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from window_server.documents import quality
from window_server.documents.quality import PageMetrics, QualityThresholds, Reason, reasons_for


def text_page(seed: int = 0, w: int = 700, h: int = 1000) -> np.ndarray:
    """A rectified page at the analysis size: white paper, lines of dark letters."""
    rng = np.random.default_rng(seed)
    page = np.full((h, w, 3), 236, np.uint8)
    for y in range(80, h - 60, 30):
        text = "".join(rng.choice(list("ABCDEFGHKMNPRSTWXYZ0123456789 "), 40))
        cv2.putText(page, text, (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (40, 40, 40), 1, cv2.LINE_AA)
    return page


def gray(page: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)


def motion(page: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = length // 2
    dx, dy = np.cos(np.radians(angle)) * c, np.sin(np.radians(angle)) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return cv2.filter2D(page, -1, kernel / kernel.sum())


def test_sharp_print_scores_above_the_threshold() -> None:
    assert quality.sharpness(gray(text_page())) > QualityThresholds().min_sharpness + 0.1


@pytest.mark.parametrize("sigma", [2.5, 4.0])
def test_defocus_scores_below_the_threshold(sigma: float) -> None:
    blurred = cv2.GaussianBlur(text_page(), (0, 0), sigma)
    assert quality.sharpness(gray(blurred)) < QualityThresholds().min_sharpness


@pytest.mark.parametrize("angle", [0, 30, 90, 135])
def test_motion_blur_in_any_direction_scores_below_the_threshold(angle: float) -> None:
    assert quality.sharpness(gray(motion(text_page(), 15, angle))) < QualityThresholds().min_sharpness


def test_sharpness_does_not_depend_on_how_much_text() -> None:
    full = text_page()
    sparse = full.copy()
    sparse[300:] = 236  # most of the page blank
    a, b = quality.sharpness(gray(full)), quality.sharpness(gray(sparse))
    assert abs(a - b) < 0.15 * a


def test_sharpness_ignores_exposure() -> None:
    page = text_page()
    dim = cv2.convertScaleAbs(page, alpha=0.5)
    assert quality.sharpness(gray(dim)) == pytest.approx(quality.sharpness(gray(page)), rel=0.1)


def test_glare_is_the_largest_blown_out_blob() -> None:
    page = text_page()
    assert quality.glare(page) == 0.0
    cv2.circle(page, (350, 500), 60, (255, 255, 255), -1)
    assert quality.glare(page) == pytest.approx(np.pi * 60**2 / page[..., 0].size, rel=0.1)
    speckled = text_page()
    speckled[::40, ::40] = 255  # isolated saturated pixels are not glare
    assert quality.glare(speckled) == 0.0


def test_brightness_is_the_white_level() -> None:
    page = text_page()
    assert quality.brightness(gray(page)) == pytest.approx(236 / 255, abs=0.01)
    inky = page.copy()
    inky[: 600] = 40  # a page mostly covered in ink still has white paper
    assert quality.brightness(gray(inky)) == pytest.approx(236 / 255, abs=0.01)


OK = PageMetrics(sharpness=0.6, glare=0.0, brightness=0.9)


@pytest.mark.parametrize(
    ("metrics", "coverage", "cut", "reasons"),
    [
        (OK, 0.3, False, []),
        (OK, 0.3, True, [Reason.CUT_OFF]),
        (OK, 0.03, False, [Reason.TOO_SMALL]),
        (dataclasses.replace(OK, sharpness=0.1), 0.3, False, [Reason.BLUR]),
        (dataclasses.replace(OK, glare=0.05), 0.3, False, [Reason.GLARE]),
        (dataclasses.replace(OK, brightness=0.2), 0.3, False, [Reason.TOO_DARK]),
        (PageMetrics(0.1, 0.05, 0.2), 0.03, True,
         [Reason.CUT_OFF, Reason.TOO_SMALL, Reason.BLUR, Reason.GLARE, Reason.TOO_DARK]),
    ],
)
def test_reasons_in_fixed_order(metrics: PageMetrics, coverage: float, cut: bool, reasons: list[Reason]) -> None:
    assert reasons_for(metrics, coverage=coverage, cut_off=cut, thresholds=QualityThresholds()) == reasons


def test_thresholds_are_frozen_with_documented_defaults() -> None:
    t = QualityThresholds()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.min_sharpness = 0.0  # type: ignore[misc]
    assert (t.min_sharpness, t.max_glare, t.min_brightness, t.min_coverage) == (0.30, 0.01, 0.35, 0.05)


def test_reason_codes_are_stable() -> None:
    assert [r.value for r in Reason] == ["no_document", "cut_off", "too_small", "blur", "glare", "too_dark"]
