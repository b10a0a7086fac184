"""Decoding: truncated files are refused, reduced decodes, thumbnails."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from window_server.documents import codec, pipeline
from window_server.documents.sniff import CorruptImage


def _jpeg(w: int = 640, h: int = 480) -> bytes:
    image = np.zeros((h, w, 3), np.uint8)
    cv2.rectangle(image, (w // 4, h // 4), (3 * w // 4, 3 * h // 4), (230, 230, 230), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def _png(w: int = 64, h: int = 48, channels: int = 3) -> bytes:
    return cv2.imencode(".png", np.full((h, w, channels), 128, np.uint8))[1].tobytes()


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999], ids=["half", "most", "all-but-eoi-area"])
def test_truncated_jpeg_is_corrupt(keep: float) -> None:
    data = _jpeg()
    cut = data[: int(len(data) * keep)]
    with pytest.raises(CorruptImage) as info:
        pipeline.check_image(cut)
    assert info.value.code == "corrupt_image"


def test_jpeg_without_eoi_is_corrupt_even_if_a_decoder_would_guess() -> None:
    with pytest.raises(CorruptImage, match="truncated"):
        codec.decode(_jpeg()[:-2])


def test_jpeg_with_nul_padding_after_eoi_is_accepted() -> None:
    image, header = codec.decode(_jpeg() + bytes(64))
    assert image.shape == (480, 640, 3) and header.format == "jpeg"


def test_truncated_png_is_corrupt() -> None:
    data = _png()
    with pytest.raises(CorruptImage):
        codec.decode(data[:-12])  # IEND cut off
    with pytest.raises(CorruptImage):
        codec.decode(data[: len(data) // 2])


def test_png_with_alpha_and_grey_decode_to_bgr() -> None:
    for channels in (1, 4):
        image, header = codec.decode(_png(channels=channels))
        assert image.shape == (48, 64, 3) and header.format == "png"


def test_reduced_decode_is_done_by_the_decoder() -> None:
    image, header = codec.decode(_jpeg(1600, 1200), reduce=4)
    assert image.shape == (300, 400, 3)
    assert (header.width, header.height) == (1600, 1200)


def test_thumbnail_fits_max_side() -> None:
    thumb = codec.thumbnail(_jpeg(1600, 1200), max_side=200)
    image = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) == 200 and image.shape[1] / image.shape[0] == pytest.approx(4 / 3, rel=0.02)
    small = codec.thumbnail(_png(), max_side=200)  # never enlarges
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (48, 64)


def test_shrink_to_halves_then_resizes() -> None:
    image = np.zeros((3000, 4000, 3), np.uint8)
    assert codec.shrink_to(image, 1000).shape == (750, 1000, 3)
    assert codec.shrink_to(image, 900).shape[1] == 900
