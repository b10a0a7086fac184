"""Composition: the ID card page and the PDF of stills."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from window_server.documents import compose
from window_server.documents.codec import encode_png
from window_server.documents.pipeline import correct_image
from window_server.documents.sniff import CorruptImage, UnsupportedImage
from window_server.domain.errors import InvalidInput


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_id_card_sides_on_one_a4_page_at_true_size(card_jpeg: bytes) -> None:
    side = correct_image(card_jpeg)
    page = decode(compose.merge_id_card(side, side, dpi=300))
    assert page.shape == (3508, 2480, 3)  # A4 at 300 dpi, portrait
    # Two card-sized (85.6 x 54 mm = 1011 x 638 px) blocks, centred, the rest white paper.
    ink_rows = np.where((page < 200).any(axis=(1, 2)))[0]
    ink_cols = np.where((page < 200).any(axis=(0, 2)))[0]
    assert ink_cols.max() - ink_cols.min() <= 1011 and ink_cols.min() >= (2480 - 1011) // 2 - 1
    assert ink_rows.max() - ink_rows.min() <= 2 * 638 + 319 + 2
    assert page[:100].min() == 255 and page[-100:].min() == 255


def test_id_card_from_raw_stills_is_cropped_first(card_jpeg: bytes, empty_jpeg: bytes) -> None:
    page = decode(compose.merge_id_card(card_jpeg, card_jpeg, dpi=150, crop=True))
    assert page.shape == (1754, 1240, 3)
    with pytest.raises(InvalidInput) as info:
        compose.merge_id_card(card_jpeg, empty_jpeg, crop=True)
    assert info.value.code == "no_document" and info.value.field == "back"


def test_pdf_embeds_jpeg_without_reencoding(good_jpeg: bytes, card_jpeg: bytes) -> None:
    pdf = compose.compose_pdf([good_jpeg, card_jpeg], title="材料")
    assert pdf.startswith(b"%PDF-")
    assert good_jpeg in pdf and card_jpeg in pdf  # the very bytes: DCTDecode streams
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 2
    # A4 landscape for these landscape stills (auto-orient), 842 x 595 pt.
    assert re.search(rb"/MediaBox\s*\[\s*0 0 841\.8\d* 595\.2\d*", pdf)


def test_pdf_takes_png_with_and_without_alpha(good_jpeg: bytes) -> None:
    bgr = decode(good_jpeg)[:300, :400]
    plain = encode_png(bgr)
    alpha = encode_png(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    pdf = compose.compose_pdf([plain, alpha])
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 2


def test_pdf_refuses_bad_stills_and_names_them(good_jpeg: bytes) -> None:
    with pytest.raises(UnsupportedImage) as info:
        compose.compose_pdf([good_jpeg, b"not an image"])
    assert info.value.field == "images[1]"
    with pytest.raises(CorruptImage):
        compose.compose_pdf([good_jpeg[:-100]])
    with pytest.raises(InvalidInput):
        compose.compose_pdf([])


def test_thumbnail_is_reexported(good_jpeg: bytes) -> None:
    assert max(decode(compose.thumbnail(good_jpeg, max_side=256)).shape[:2]) == 256
