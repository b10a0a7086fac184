"""Compose stills: both sides of an ID card on one page (身份证正反面合并), several in a PDF.

JPEG stills go into the PDF as they are (img2pdf embeds the JPEG stream, no re-encoding), so
the PDF carries the same pixels the specialist verified.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import img2pdf
import numpy as np

from window_server.documents.codec import Image, check_complete, decode, encode_jpeg, encode_png
from window_server.documents.codec import thumbnail as thumbnail
from window_server.documents.pipeline import locate, rectify
from window_server.documents.sniff import DEFAULT_MAX_MEGAPIXELS, sniff
from window_server.domain.errors import InvalidInput, RemoteWindowError

A4_MM = (210.0, 297.0)
ID_CARD_MM = (85.6, 54.0)  # ISO/IEC 7810 ID-1, the size of a 居民身份证


def merge_id_card(
    front: bytes,
    back: bytes,
    *,
    dpi: int = 300,
    quality: int = 90,
    crop: bool = False,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> bytes:
    """Return a JPEG A4 page (portrait) with the card's front above its back, at true size.

    The sides are expected corrected already (the pipeline's output); with ``crop=True`` raw
    stills are deskewed and cropped first, and a still without a findable card is an error.
    """
    sides = []
    for name, data in (("front", front), ("back", back)):
        image, _ = decode(data, max_megapixels=max_megapixels)
        if crop:
            quad = locate(image)
            if quad is None:
                raise InvalidInput(f"no ID card was found on the {name} image", code="no_document", field=name)
            image = rectify(image, quad)
        sides.append(_card_at_size(image, dpi))
    return encode_jpeg(_a4_with(sides, dpi), quality=quality)


def compose_pdf(
    images: Sequence[bytes],
    *,
    title: str | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> bytes:
    """Return a PDF with one A4 page per image, each fitted inside and turned to match it."""
    if not images:
        raise InvalidInput("a PDF needs at least one image", field="images")
    streams = []
    for i, data in enumerate(images):
        try:
            streams.append(_pdf_ready(data, max_megapixels))
        except RemoteWindowError as exc:
            exc.field = f"images[{i}]"  # say which still, the codes alone do not
            raise
    a4 = (img2pdf.mm_to_pt(A4_MM[0]), img2pdf.mm_to_pt(A4_MM[1]))
    layout = img2pdf.get_layout_fun(a4, fit=img2pdf.FitMode.into, auto_orient=True)
    pdf = img2pdf.convert(streams, layout_fun=layout, title=title, rotation=img2pdf.Rotation.ifvalid)
    assert isinstance(pdf, bytes)
    return pdf


def _pdf_ready(data: bytes, max_megapixels: float) -> bytes:
    """Return bytes img2pdf embeds losslessly: JPEG as is, PNG as is unless it has alpha."""
    header = sniff(data, max_megapixels=max_megapixels)
    check_complete(data, header)
    if header.format == "jpeg":
        return data
    # PDF images have no alpha channel; img2pdf refuses one rather than guess a background.
    # Colour type lives in IHDR byte 25: 4 = grey + alpha, 6 = RGB + alpha.
    if data[25] in (4, 6):
        image, _ = decode(data, max_megapixels=max_megapixels)
        return encode_png(image)
    return data


def _card_at_size(image: Image, dpi: int) -> Image:
    """Return the card landscape and scaled to its printed size at dpi."""
    h, w = image.shape[:2]
    if h > w:
        image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    size = (_px(ID_CARD_MM[0], dpi), _px(ID_CARD_MM[1], dpi))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _a4_with(cards: list[Image], dpi: int) -> Image:
    """Return a white A4 page with the cards centred, one above the other, half a card apart."""
    page_w, page_h = _px(A4_MM[0], dpi), _px(A4_MM[1], dpi)
    page = np.full((page_h, page_w, 3), 255, np.uint8)
    card_h, card_w = cards[0].shape[:2]
    gap = card_h // 2
    top = (page_h - (len(cards) * card_h + (len(cards) - 1) * gap)) // 2
    x = (page_w - card_w) // 2
    for i, card in enumerate(cards):
        y = top + i * (card_h + gap)
        page[y : y + card_h, x : x + card_w] = card
    return page


def _px(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)
