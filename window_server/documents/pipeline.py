"""The document-still pipeline: decode, find the page, deskew and crop (纠偏裁边), judge quality,
then recognise what the page is and black out its personal numbers (``recognise``).

Pure functions from bytes to results; no file or network I/O. Run them in a worker process
(``pool.DocumentPool``), never on the event loop: a 12 MP still costs ~100-200 ms of CPU to
check, its corrected page ~0.4-0.7 s more to recognise (OCR on one core).

Cost plan for a 12 MP JPEG: one decode (in the decoder at half size when only checking),
exact 2:1 area halvings down to a ~1,000 px copy for page detection, one warp of the page at
the analysis size for the metrics, and - only when a corrected still is wanted - one warp at
full resolution.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import cv2

from window_server.documents.codec import Image, check_complete, decode, encode_jpeg, halve
from window_server.documents.codec import thumbnail as thumbnail
from window_server.documents.detect import find_page
from window_server.documents.geometry import (
    Quad,
    area_inside_frame,
    rectify_transform,
    scale_quad,
    touches_border,
    upright_size,
)
from window_server.documents.quality import (
    ANALYSIS_SIDE,
    PageMetrics,
    QualityThresholds,
    Reason,
    brightness,
    measure,
    reasons_for,
)
from window_server.documents.recognise import Recognition, mask, recognise_page, unknown
from window_server.documents.sniff import DEFAULT_MAX_MEGAPIXELS, sniff
from window_server.domain.errors import InvalidInput

DETECT_SIDE = 1448  # halve until the long side is at most this (~1,024 * sqrt 2)
HALF_SIZE_FROM = 3000  # stills this long (px) are analysed at half size; 12 MP is 4000
_ALONG_BORDER = 0.015  # a page side this close (share of the long side) along an edge is cut
RECOGNISE_SIDE = 2000  # the CLI recognises the page rectified to at most this long side


class DocumentNotFound(InvalidInput):
    """No page could be found in the still, so it cannot be corrected."""

    code = "no_document"


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one still. ``corners`` are input pixels, clockwise from the top-left."""

    document_found: bool
    corners: tuple[tuple[float, float], ...] | None
    verdict: str  # "accepted" or "rejected"
    reasons: tuple[str, ...]
    sharpness: float
    glare: float
    brightness: float
    coverage: float
    ms: float
    width: int = 0  # of the input image, after EXIF orientation
    height: int = 0
    quad: Quad | None = field(default=None, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    def to_json(self) -> dict[str, Any]:
        """Return the fields of the public JSON contract (see docs/documents.md)."""
        return {
            "document_found": self.document_found,
            "corners": None if self.corners is None else [list(c) for c in self.corners],
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "sharpness": self.sharpness,
            "glare": self.glare,
            "brightness": self.brightness,
            "coverage": self.coverage,
            "ms": self.ms,
        }


def check_image(
    data: bytes,
    thresholds: QualityThresholds | None = None,
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> CheckResult:
    """Decode a still, find the page and judge it; raise a coded error on unreadable input."""
    start = time.perf_counter()
    header = sniff(data, max_megapixels=max_megapixels)
    check_complete(data, header)
    # Checking needs no full-resolution pixels: big JPEGs decode at half size in the decoder.
    half = header.format == "jpeg" and max(header.width, header.height) >= HALF_SIZE_FROM
    image, _ = decode(data, reduce=2 if half else 1, max_megapixels=max_megapixels)
    full = _full_size(image, header.width, header.height)
    result = analyse(image, full, thresholds or QualityThresholds())
    return _timed(result, start)


def process_image(
    data: bytes,
    thresholds: QualityThresholds | None = None,
    *,
    quality: int = 90,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[CheckResult, bytes | None]:
    """Check a still and return it corrected as JPEG too (None when no page): one decode."""
    start = time.perf_counter()
    image, _ = decode(data, max_megapixels=max_megapixels)
    h, w = image.shape[:2]
    source = halve(image) if max(h, w) >= HALF_SIZE_FROM else image
    result = analyse(source, (w, h), thresholds or QualityThresholds())
    corrected = None
    if result.quad is not None:
        corrected = encode_jpeg(rectify(image, result.quad), quality=quality)
    return _timed(result, start), corrected


def process_upload(
    data: bytes,
    thresholds: QualityThresholds | None = None,
    *,
    quality: int = 90,
    thumb_side: int = 320,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[CheckResult, bytes | None, bytes]:
    """Everything an upload keeps, in one worker call: the verdict, the corrected page, a thumbnail.

    The thumbnail is made from the corrected page when there is one (what the console lists),
    else from the still itself.
    """
    result, corrected = process_image(data, thresholds, quality=quality, max_megapixels=max_megapixels)
    thumb = thumbnail(corrected if corrected is not None else data, max_side=thumb_side,
                      max_megapixels=max_megapixels)
    return result, corrected, thumb


def correct_image(
    data: bytes, *, quality: int = 90, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> bytes:
    """Return the page deskewed and cropped as JPEG; raise DocumentNotFound without a page."""
    image, _ = decode(data, max_megapixels=max_megapixels)
    quad = locate(image)
    if quad is None:
        raise DocumentNotFound("no document page was found in the image")
    return encode_jpeg(rectify(image, quad), quality=quality)


def recognise_corrected(
    data: bytes, *, quality: int = 85, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> tuple[Recognition, bytes | None]:
    """Recognise a corrected page (the JPEG ``process_upload`` made) and black out its personal
    numbers: return the recognition and the masked rendition (JPEG, same size), None when there
    is nothing to mask. ``Recognition.ms`` counts the decode and the encode too."""
    start = time.perf_counter()
    image, _ = decode(data, max_megapixels=max_megapixels)
    result = recognise_page(image)
    masked = encode_jpeg(mask(image, result.mask_boxes), quality=quality) if result.mask_boxes else None
    return dataclasses.replace(result, ms=_since(start)), masked


def recognise_still(
    data: bytes,
    thresholds: QualityThresholds | None = None,
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[CheckResult, Recognition]:
    """Check a still, then rectify and recognise its page, from one decode (the CLI's check).

    ``CheckResult.ms`` is the check's time; ``Recognition.ms`` the rectification and recognition
    after it. No page: the class is ``unknown``. Mask boxes are in the page rectified to at most
    ``RECOGNISE_SIDE`` px.
    """
    start = time.perf_counter()
    image, _ = decode(data, max_megapixels=max_megapixels)
    h, w = image.shape[:2]
    source = halve(image) if max(h, w) >= HALF_SIZE_FROM else image
    result = _timed(analyse(source, (w, h), thresholds or QualityThresholds()), start)
    if result.quad is None:
        return result, unknown()
    start = time.perf_counter()
    recognition = recognise_page(rectify(image, result.quad, max_side=RECOGNISE_SIDE))
    return result, dataclasses.replace(recognition, ms=_since(start))


def locate(image: Image) -> Quad | None:
    """Return the page corners in the image's pixels (ordered by the corner rule), or None."""
    small = _shrink(image)
    detection = find_page(small)
    if detection is None:
        return None
    h, w = image.shape[:2]
    return scale_quad(detection.quad, w / small.shape[1], h / small.shape[0])


def rectify(image: Image, quad: Quad, max_side: int | None = None) -> Image:
    """Return the page upright and cropped at its own aspect (long side at most max_side)."""
    pw, ph = upright_size(quad)
    scale = 1.0 if max_side is None else min(1.0, max_side / max(pw, ph))
    ow, oh = max(1, round(pw * scale)), max(1, round(ph * scale))
    m = rectify_transform(quad, ow, oh)
    return cv2.warpPerspective(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def analyse(source: Image, full_size: tuple[int, int], thresholds: QualityThresholds) -> CheckResult:
    """Judge a decoded still; ``source`` may be a reduced copy of a full_size (w, h) image."""
    full_w, full_h = full_size
    src_h, src_w = source.shape[:2]
    small = _shrink(source)
    detection = find_page(small)
    if detection is None:
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        frame = measure(small)
        reasons = [Reason.NO_DOCUMENT]
        if brightness(gray) < thresholds.min_brightness:
            reasons.append(Reason.TOO_DARK)
        return _result(None, reasons, frame, 0.0, full_w, full_h)
    sh, sw = small.shape[:2]
    quad_full = scale_quad(detection.quad, full_w / sw, full_h / sh)
    quad_src = scale_quad(detection.quad, src_w / sw, src_h / sh)
    metrics = measure(rectify(source, quad_src, max_side=ANALYSIS_SIDE))
    coverage = area_inside_frame(quad_full, full_w, full_h) / float(full_w * full_h)
    long_side = max(full_w, full_h)
    cut = touches_border(
        quad_full, full_w, full_h, thresholds.border_margin * long_side, _ALONG_BORDER * long_side
    )
    reasons = reasons_for(metrics, coverage=coverage, cut_off=cut, thresholds=thresholds)
    return _result(quad_full, reasons, metrics, coverage, full_w, full_h)


def _result(
    quad: Quad | None, reasons: list[Reason], metrics: PageMetrics, coverage: float, w: int, h: int
) -> CheckResult:
    corners = None if quad is None else tuple((round(float(x), 1), round(float(y), 1)) for x, y in quad)
    return CheckResult(
        document_found=quad is not None,
        corners=corners,
        verdict="rejected" if reasons else "accepted",
        reasons=tuple(str(r) for r in reasons),
        sharpness=round(metrics.sharpness, 4),
        glare=round(metrics.glare, 4),
        brightness=round(metrics.brightness, 4),
        coverage=round(coverage, 4),
        ms=0.0,
        width=w,
        height=h,
        quad=quad,
    )


def _timed(result: CheckResult, start: float) -> CheckResult:
    return dataclasses.replace(result, ms=_since(start))


def _since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


def _shrink(image: Image) -> Image:
    """Halve (exact 2:1 area averaging, OpenCV's fast path) until small enough to search."""
    while max(image.shape[:2]) > DETECT_SIDE:
        image = halve(image)
    return image


def _full_size(decoded: Image, width: int, height: int) -> tuple[int, int]:
    """Return the full (w, h) of a possibly reduced decode; EXIF rotation may swap the header's."""
    h, w = decoded.shape[:2]
    if (w > h) != (width > height) and width != height:
        width, height = height, width
    return width, height
