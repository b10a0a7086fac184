"""The recogniser on clean prints: each class, the ID card's fields, the reasons, the masked rendition.

Real OCR (PP-OCRv4 through rapidocr-onnxruntime, one thread) on synthetic prints from
``citizen_client.synthetic_documents``; the scene-level accuracy is test_recognise_accuracy.py.
"""

from __future__ import annotations

import json
from datetime import date

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_documents as sd
from window_server.documents import ocr
from window_server.documents.codec import decode, encode_jpeg
from window_server.documents.pipeline import recognise_corrected
from window_server.documents.portrait import find_portrait
from window_server.documents.recognise import Recognition, recognise_page
from window_server.domain.idcard import CLASSES, LONG_TERM, read_id_number
from window_server.domain.privacy import mask_id_number

TODAY = sd.TODAY
WIDTH = {"id_card_front": 1000, "id_card_back": 1000, "bank_card": 1000, "household_register": 1000,
         "business_licence": 1800, "a4_page": 1300}


def render(document: str, seed: int = 1, identity: sd.Identity | None = None) -> sd.Rendered:
    size = sd.page_size(document, WIDTH[document])
    return sd.render_document(document, *size, np.random.default_rng(seed), identity)


def identity(seed: int, **kwargs: bool) -> sd.Identity:
    return sd.make_identity(np.random.default_rng(seed), today=TODAY, **kwargs)


@pytest.fixture(scope="module")
def front() -> tuple[sd.Identity, sd.Rendered]:
    who = identity(21)
    return who, render("id_card_front", 21, who)


@pytest.fixture(scope="module")
def front_read(front: tuple[sd.Identity, sd.Rendered]) -> Recognition:
    return recognise_page(front[1].image)


@pytest.mark.parametrize("document", sd.PAGE_MM)
def test_each_class_is_recognised_on_a_clean_print(document: str) -> None:
    r = recognise_page(render(document).image)
    assert r.cls == sd.DOCUMENT_CLASS[document] and r.cls in CLASSES
    assert 0.5 <= r.confidence <= 1.0 and r.ms > 0


@pytest.mark.parametrize("turn", [cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_card_lying_any_way_round_is_read(front: tuple[sd.Identity, sd.Rendered], turn: int) -> None:
    # The corner rule makes a page upright up to quarter turns: the print may still run any way.
    who, printed = front
    r = recognise_page(cv2.rotate(printed.image, turn))
    assert r.cls == "id_card_front" and r.id_number == who.number and r.name == who.name


def test_the_front_is_read_exactly(front: tuple[sd.Identity, sd.Rendered], front_read: Recognition) -> None:
    who, _ = front
    r = front_read
    assert (r.id_number, r.id_number_valid, r.name, r.sex, r.birth_date) == (who.number, True, who.name, who.sex,
                                                                               who.birth)
    assert r.fields_consistent is True
    assert r.reasons("id_card_front", TODAY) == []


def test_a_wrong_check_character_is_id_number_invalid() -> None:
    who = identity(22, valid=False)
    r = recognise_page(render("id_card_front", 22, who).image)
    assert r.cls == "id_card_front" and r.id_number == who.number
    assert r.id_number_valid is False
    assert r.reasons("id_card_front", TODAY) == ["id_number_invalid"]
    assert r.public(TODAY)["id_number_valid"] is False


def test_a_printed_birth_date_that_disagrees_with_the_number_is_id_number_invalid() -> None:
    who = identity(23)
    other = who.birth.replace(year=who.birth.year - 1) if who.birth.month != 2 else who.birth.replace(day=1)
    r = recognise_page(render("id_card_front", 23, sd.Identity(**{**who.__dict__, "birth": other})).image)
    assert r.id_number == who.number and r.id_number_valid is True
    assert r.birth_date == other and r.fields_consistent is False
    assert r.reasons(None, TODAY) == ["id_number_invalid"]


@pytest.mark.parametrize(("kwargs", "expired"), [({"expired": True}, True), ({"long_term": True}, False), ({}, False)])
def test_the_back_s_validity(kwargs: dict[str, bool], expired: bool) -> None:
    who = identity(24, **kwargs)
    r = recognise_page(render("id_card_back", 24, who).image)
    assert r.cls == "id_card_back"
    assert (r.valid_from, r.valid_until, r.issuer) == (who.valid_from, who.valid_until, who.issuer)
    assert r.public(TODAY)["expired"] is expired
    assert r.public(TODAY)["valid_until"] == (LONG_TERM if kwargs.get("long_term") else who.valid_until.isoformat())
    assert r.reasons("id_card_back", TODAY) == (["expired"] if expired else [])


def test_public_carries_no_personal_data(front: tuple[sd.Identity, sd.Rendered], front_read: Recognition) -> None:
    who, _ = front
    public = front_read.public(TODAY)
    text = json.dumps(public, ensure_ascii=False)
    assert set(public) == {"class", "confidence", "id_number_masked", "id_number_valid", "ms"}
    assert public["id_number_masked"] == mask_id_number(who.number)
    for secret in (who.number, who.number[6:14], who.name, who.birth.isoformat(), who.address[:6]):
        assert secret not in text
    private = front_read.private()
    assert private["id_number"] == who.number and private["name"] == who.name
    assert private["birth_date"] == who.birth.isoformat() and private["sex"] == who.sex
    json.dumps(private)  # JSON-safe


def test_reasons_come_in_order_each_once() -> None:
    r = Recognition("id_card_front", 0.9, id_number="11010519491231002X", id_number_valid=False,
                    fields_consistent=False)
    assert r.reasons("application_form", TODAY) == ["wrong_kind", "id_number_invalid"]
    assert r.reasons("page", TODAY) == ["wrong_kind", "id_number_invalid"]  # a class, as the CLI's --expect
    assert r.reasons("other", TODAY) == ["id_number_invalid"]  # a kind with no expectation
    back = Recognition("id_card_back", 0.9, valid_until=date(2026, 12, 2))
    assert back.reasons("id_card_front", TODAY) == ["wrong_kind", "expired"]
    assert back.reasons("id_card_back", date(2026, 12, 2)) == []
    unknown = Recognition("unknown", 0.0)
    assert unknown.reasons("id_card_front", TODAY) == [] and unknown.reasons("page", TODAY) == []
    assert Recognition("page", 0.7).reasons("business_licence", TODAY) == ["wrong_kind"]


def test_the_masked_rendition_hides_the_number_and_the_photo(front: tuple[sd.Identity, sd.Rendered]) -> None:
    who, printed = front
    recognition, masked = recognise_corrected(encode_jpeg(printed.image))
    assert recognition.id_number == who.number and masked is not None
    image, _ = decode(masked)
    assert image.shape == printed.image.shape
    # Every box is solid black, and together they cover the printed number and the photo.
    for x, y, w, h in recognition.mask_boxes:
        assert image[y:y + h, x:x + w].max() <= 40
    for region in ("id_number", "photo"):
        x, y, w, h = printed.regions[region]
        assert float(image[y:y + h, x:x + w].mean()) < 12, region
    # OCR of the masked still no longer finds the number, though the rest is still read.
    again = recognise_page(image)
    assert again.id_number is None and again.name == who.name
    engine = ocr.engine()
    lines = engine.lines(image, engine.detect(image, 960))
    assert read_id_number("".join(line.text for line in lines)) is None
    assert not [line for line in lines if who.number[-8:] in line.text]


def test_bank_card_number_is_masked_and_a_household_register_s_number_cell() -> None:
    card = render("bank_card", 3)
    recognition, masked = recognise_corrected(encode_jpeg(card.image))
    assert recognition.cls == "bank_card" and masked is not None
    image, _ = decode(masked)
    x, y, w, h = card.regions["card_number"]
    assert float(image[y:y + h, x:x + w].mean()) < 12
    register = render("household_register", 4)
    recognition, masked = recognise_corrected(encode_jpeg(register.image))
    assert recognition.cls == "household_register" and masked is not None
    image, _ = decode(masked)
    x, y, w, h = register.regions["id_number"]
    assert float(image[y:y + h, x:x + w].mean()) < 12


def test_pages_without_personal_numbers_have_no_masked_rendition() -> None:
    for document in ("id_card_back", "business_licence", "a4_page"):
        recognition, masked = recognise_corrected(encode_jpeg(render(document, 5).image))
        assert recognition.mask_boxes == () and masked is None


def test_the_portrait_is_found_where_it_is_printed(front: tuple[sd.Identity, sd.Rendered]) -> None:
    _, printed = front
    found = find_portrait(printed.image)
    assert found is not None
    x, y, w, h = found
    px, py, pw, ph = printed.regions["photo"]
    inside = max(0, min(x + w, px + pw) - max(x, px)) * max(0, min(y + h, py + ph) - max(y, py))
    assert inside >= 0.95 * pw * ph  # the whole photo is within the area found
    assert w * h <= 1.8 * pw * ph  # and not much more
    assert find_portrait(render("id_card_back").image) is None
    assert find_portrait(render("bank_card").image) is None
    assert find_portrait(np.full((540, 856, 3), 235, np.uint8)) is None


def test_nothing_readable_is_unknown_or_page() -> None:
    blank_card = np.full((540, 856, 3), 230, np.uint8)
    assert recognise_page(blank_card).cls == "unknown"
    blank_sheet = np.full((1188, 840, 3), 240, np.uint8)
    assert recognise_page(blank_sheet).cls == "page"
    assert recognise_page(np.zeros((20, 20, 3), np.uint8)).cls == "unknown"
