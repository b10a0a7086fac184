"""Decode and encode stills: sniff first, refuse truncated files, decode at a reduced size."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from window_server.documents.sniff import (
    DEFAULT_MAX_MEGAPIXELS,
    CorruptImage,
    ImageHeader,
    sniff,
)

# 8-bit BGR or grey. Any: OpenCV's type stubs do not carry dtypes through its functions.
Image = NDArray[Any]

_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def check_complete(data: bytes, header: ImageHeader) -> None:
    """Raise CorruptImage unless the file ends the way its format must end.

    A JPEG cut short in transit may still decode (libjpeg fills the rest with grey and only
    warns), so a missing EOI marker is a hard error. Trailing NUL padding, which some
    cameras add, is allowed.
    """
    tail = data.rstrip(b"\x00") if header.format == "jpeg" else data
    if header.format == "jpeg" and not tail.endswith(_JPEG_EOI):
        raise CorruptImage("the JPEG is truncated (no end-of-image marker)")
    if header.format == "png" and not tail.endswith(_PNG_IEND):
        raise CorruptImage("the PNG is truncated (no IEND chunk)")


def decode(
    data: bytes, *, reduce: int = 1, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> tuple[Image, ImageHeader]:
    """Return the image as 8-bit BGR (optionally 1/2, 1/4 or 1/8 size) and its header.

    JPEG reduces inside the decoder (DCT scaling), which is several times faster than
    decoding in full and resizing. EXIF orientation is applied, as viewers do.
    """
    header = sniff(data, max_megapixels=max_megapixels)
    check_complete(data, header)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[reduce])
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CorruptImage(f"the {header.format.upper()} image data cannot be decoded")
    return image, header


def encode_jpeg(image: Image, *, quality: int = 90) -> bytes:
    """Return the image as baseline JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV only fails on empty input
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_png(image: Image) -> bytes:
    """Return the image as PNG bytes."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def halve(image: Image) -> Image:
    """Return the image at half size; exact 2:1 area averaging is OpenCV's fast path."""
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def shrink_to(image: Image, long_side: int) -> Image:
    """Return the image with its long side at most long_side (halving first, then area)."""
    while max(image.shape[:2]) >= 2 * long_side:
        image = halve(image)
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def thumbnail(
    data: bytes, *, max_side: int = 320, quality: int = 80,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> bytes:
    """Return a JPEG thumbnail whose long side is at most max_side."""
    header = sniff(data, max_megapixels=max_megapixels)
    reduce = 1
    if header.format == "jpeg":
        while reduce < 8 and max(header.width, header.height) // (reduce * 2) >= max_side:
            reduce *= 2
    image, _ = decode(data, reduce=reduce, max_megapixels=max_megapixels)
    return encode_jpeg(shrink_to(image, max_side), quality=quality)
