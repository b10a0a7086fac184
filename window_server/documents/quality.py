"""Still quality: metrics on the rectified page and the reasons a still is rejected.

Metrics are measured on the page rectified to ``ANALYSIS_SIDE`` px on its long side (or its
own size if smaller), so they do not depend on the camera's resolution or the page's size in
the frame, and with a small inset so the paper's outline is not counted as content.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from window_server.documents.codec import Image

ANALYSIS_SIDE = 1000  # px on the page's long side where metrics are measured
_INSET = 0.03  # share of each side left out, so corners a pixel off do not bring in plate
_STEEPEST = 0.002  # share of pixels whose steps define sharpness
_DIRECTIONS = 8  # directions searched for motion blur, over 180 degrees
_SATURATED = 250  # a channel at or above this is blown out


class Reason(StrEnum):
    """Why a still is rejected. Stable codes: clients show them, never change them."""

    NO_DOCUMENT = "no_document"
    CUT_OFF = "cut_off"
    TOO_SMALL = "too_small"
    BLUR = "blur"
    GLARE = "glare"
    TOO_DARK = "too_dark"


@dataclass(frozen=True)
class QualityThresholds:
    """Where each reason starts. Defaults are set on the synthetic set; see docs/documents.md."""

    min_sharpness: float = 0.3  # edge steepness in the blurriest direction (crisp: 0.4-0.75)
    max_glare: float = 0.01  # largest blown-out blob, as a share of the page
    min_brightness: float = 0.35  # page white level (90th percentile luminance), 0..1
    min_coverage: float = 0.05  # page area inside the frame / frame area
    border_margin: float = 0.002  # corners must lie this far (share of the long side) inside


@dataclass(frozen=True)
class PageMetrics:
    """What is measured on the rectified page."""

    sharpness: float
    glare: float
    brightness: float


def measure(page: Image) -> PageMetrics:
    """Return sharpness, glare and brightness of a rectified BGR page at the analysis size."""
    h, w = page.shape[:2]
    dy, dx = int(h * _INSET), int(w * _INSET)
    inner = page[dy : h - dy, dx : w - dx] if h > 40 and w > 40 else page
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    return PageMetrics(sharpness(gray), glare(inner), brightness(gray))


def sharpness(gray: Image) -> float:
    """Return how steep the page's steepest brightness steps are in its blurriest direction.

    Print has crisp edges; defocus softens them all, motion blur those across its direction.
    For 8 directions take the mean of the steepest 0.2 % of directional steps (px^-1, Sobel),
    keep the weakest direction and divide by the page's white level. Crisp print scores about
    0.4-0.75, a blurred page under 0.25. Unlike the variance of the Laplacian this hardly
    depends on how much text a page carries, and the worst direction catches motion blur.
    """
    f = gray.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3, scale=0.25)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3, scale=0.25)
    mag = cv2.magnitude(gx, gy).ravel()
    k = max(1, int(_STEEPEST * mag.size))
    # The steepest directional steps are among the steepest steps: search a pool 10x bigger.
    pool = np.argpartition(mag, -10 * k)[-10 * k :] if mag.size > 10 * k else np.arange(mag.size)
    px, py = gx.ravel()[pool], gy.ravel()[pool]
    weakest = min(
        float(np.partition(np.abs(px * np.cos(t) + py * np.sin(t)), -k)[-k:].mean())
        for t in np.arange(_DIRECTIONS) * np.pi / _DIRECTIONS
    )
    return weakest / max(_white_level(gray), 1.0)


def glare(page: Image) -> float:
    """Return the area of the largest blown-out blob on the page, as a share of the page."""
    blown = (cv2.min(cv2.min(page[..., 0], page[..., 1]), page[..., 2]) >= _SATURATED).astype(np.uint8)
    blobs = cv2.morphologyEx(blown, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # specks are noise
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    if n <= 1:
        return 0.0
    return float(stats[1:, cv2.CC_STAT_AREA].max()) / float(page.shape[0] * page.shape[1])


def brightness(gray: Image) -> float:
    """Return the page's white level, 0..1 (a percentile, so a page full of ink is not dark)."""
    return _white_level(gray) / 255.0


def _white_level(gray: Image) -> float:
    """Return the 90th-percentile luminance, 0..255."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist)
    return float(np.searchsorted(cdf, 0.9 * cdf[-1]))


def reasons_for(
    metrics: PageMetrics, *, coverage: float, cut_off: bool, thresholds: QualityThresholds
) -> list[Reason]:
    """Return the reasons to reject a still whose page was found, in a fixed order."""
    reasons: list[Reason] = []
    if cut_off:
        reasons.append(Reason.CUT_OFF)
    if coverage < thresholds.min_coverage:
        reasons.append(Reason.TOO_SMALL)
    if metrics.sharpness < thresholds.min_sharpness:
        reasons.append(Reason.BLUR)
    if metrics.glare > thresholds.max_glare:
        reasons.append(Reason.GLARE)
    if metrics.brightness < thresholds.min_brightness:
        reasons.append(Reason.TOO_DARK)
    return reasons
