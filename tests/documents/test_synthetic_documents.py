"""The synthetic Chinese prints are what they claim: sizes, classes, well-formed fictional data.

The recogniser's accuracy set, its tests, the bench and the synthetic 高拍仪 stand on these
renders, so their truth is checked here against the domain rules (``domain.idcard``) and
independent oracles (Luhn, GB 32100), and the older documents must render exactly as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import date

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_documents as sd
from citizen_client import synthetic_scene as ss
from window_server.domain.idcard import (
    CLASSES,
    LONG_TERM,
    is_expired,
    issue_years,
    read_id_number,
    read_validity,
    sides_belong,
)

TODAY = date(2026, 12, 3)
KEYWORDS_OF_OTHER_CLASSES = (
    "公民身份号码", "姓名", "出生", "中华人民共和国", "居民身份证", "签发机关", "有效期限", "常住人口登记卡",
    "户口簿", "户主", "营业执照", "统一社会信用代码", "法定代表人", "银联", "UnionPay", "银行",
)


def render(document: str, width: int, seed: int, identity: sd.Identity | None = None) -> sd.Rendered:
    return sd.render_document(document, *sd.page_size(document, width), np.random.default_rng(seed), identity)


def age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    return sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)) % 10 == 0


def uscc_ok(code: str) -> bool:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [pow(3, i, 31) for i in range(17)]  # GB 32100: 3^i mod 31
    total = sum(alphabet.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return len(code) == 18 and alphabet[(31 - total % 31) % 31] == code[17]


# --- the prints ---------------------------------------------------------------------------


@pytest.mark.parametrize("document", sd.PAGE_MM)
def test_each_print_has_the_real_size_and_a_class(document: str) -> None:
    printed = render(document, 640, 1)
    w_mm, h_mm = sd.PAGE_MM[document]
    h, w = printed.image.shape[:2]
    assert printed.image.dtype == np.uint8 and printed.image.shape[2] == 3 and w == 640
    assert h / w == pytest.approx(h_mm / w_mm, abs=0.005)
    assert sd.DOCUMENT_CLASS[document] in CLASSES
    assert document in ss.DOCUMENT_MM and ss.DOCUMENT_MM[document] == sd.PAGE_MM[document]
    assert printed.texts and printed.image.std() > 10  # something is printed on it


def test_classes_of_every_document() -> None:
    assert set(sd.DOCUMENT_CLASS) == set(ss.DOCUMENT_MM)
    assert {sd.DOCUMENT_CLASS[d] for d in ss.CLASS_DOCUMENTS} == set(CLASSES) - {"unknown"}
    assert sd.DOCUMENT_CLASS["id_card"] == "unknown" and sd.DOCUMENT_CLASS["a4_form"] == "page"
    assert {w / h for w, h in (sd.PAGE_MM[c] for c in sd.CARDS)} == {85.6 / 54.0}


@pytest.mark.parametrize("document", sd.PAGE_MM)
def test_same_seed_same_print(document: str) -> None:
    a, b, c = render(document, 500, 3), render(document, 500, 3), render(document, 500, 4)
    assert np.array_equal(a.image, b.image) and a.texts == b.texts
    assert not np.array_equal(a.image, c.image)


# --- identities ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_identities_are_consistent_and_valid_today(seed: int) -> None:
    who = sd.make_identity(np.random.default_rng(seed))
    read = read_id_number(who.number)
    assert read is not None and read.valid and read.number == who.number
    assert read.birth == who.birth and read.sex == who.sex
    region = next(r for r in sd.REGIONS if r[0] == who.number[:6])
    assert who.address.startswith(region[1]) and who.issuer == region[2]
    assert 2 <= len(who.name) <= 3 and who.name[0] in sd.SURNAMES
    assert who.birth < who.valid_from <= TODAY and not is_expired(who.valid_until, TODAY)
    years = issue_years(who.birth, who.valid_from)
    if years is None:
        assert who.valid_until == LONG_TERM
    else:
        assert isinstance(who.valid_until, date)
        assert (who.valid_until.year - who.valid_from.year) == years
    assert sides_belong(who.birth, who.valid_from, who.valid_until) is True
    hash(who)  # frozen and hashable: usable as a key of a labelled set


@pytest.mark.parametrize("seed", range(30))
def test_a_wrong_check_character_only_when_asked(seed: int) -> None:
    who = sd.make_identity(np.random.default_rng(seed), valid=False)
    read = read_id_number(who.number)
    assert read is not None and not read.valid
    assert read.birth == who.birth and read.sex == who.sex  # only the check character is wrong


@pytest.mark.parametrize("seed", range(30))
def test_expired_and_long_term_cards(seed: int) -> None:
    old = sd.make_identity(np.random.default_rng(seed), expired=True)
    assert is_expired(old.valid_until, TODAY) and sides_belong(old.birth, old.valid_from, old.valid_until)
    later = date(2030, 6, 1)
    long = sd.make_identity(np.random.default_rng(seed), long_term=True, today=later)
    assert long.valid_until == LONG_TERM and long.valid_from <= later and age(long.birth, long.valid_from) >= 46
    assert not is_expired(long.valid_until, date(2099, 1, 1))
    with pytest.raises(ValueError):
        sd.make_identity(np.random.default_rng(seed), expired=True, long_term=True)


def test_the_sexes_and_validity_periods_vary() -> None:
    people = [sd.make_identity(np.random.default_rng(s)) for s in range(80)]
    assert {p.sex for p in people} == {"男", "女"}
    assert {issue_years(p.birth, p.valid_from) for p in people} == {5, 10, 20}
    assert len({p.number[:6] for p in people}) >= 8 and len({p.name for p in people}) >= 70


# --- what each print shows ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_the_id_card_shows_its_identity(seed: int) -> None:
    who = sd.make_identity(np.random.default_rng(seed))
    front = render("id_card_front", 856, seed, who)
    assert {"姓  名", "出  生", "公民身份号码", who.name, who.sex, who.nation, who.number} <= set(front.texts)
    assert str(who.birth.year) in front.texts and front.fields["id_number"] == who.number
    x, y, w, h = front.regions["id_number"]
    assert y > 0.75 * 540 and x > 0.25 * 856 and w > 0.5 * 856  # the number line at the bottom
    back = render("id_card_back", 856, seed, who)
    assert {"中华人民共和国", "居民身份证", "签发机关", "有效期限", who.issuer} <= set(back.texts)
    assert read_validity(back.fields["validity"]) == (who.valid_from, who.valid_until)
    register = render("household_register", 700, seed, who)
    assert {"常住人口登记卡", who.name, who.number} <= set(register.texts)
    assert any("户主" in t for t in register.texts)


def test_a_long_term_card_says_so() -> None:
    who = sd.make_identity(np.random.default_rng(5), long_term=True)
    back = render("id_card_back", 856, 5, who)
    assert back.fields["validity"].endswith("-长期")
    assert read_validity(back.fields["validity"]) == (who.valid_from, LONG_TERM)


@pytest.mark.parametrize("seed", range(6))
def test_the_portrait_is_a_face_under_dark_hair_on_a_light_background(seed: int) -> None:
    front = render("id_card_front", 856, seed)
    x, y, w, h = front.regions["photo"]
    assert x > 856 / 2 and y + h < 0.8 * 540  # right half, above the number
    photo = front.image[y:y + h, x:x + w]
    ycrcb = cv2.cvtColor(photo, cv2.COLOR_BGR2YCrCb).astype(int)
    cheek = ycrcb[int(0.5 * h), int(0.4 * w)]
    assert 133 <= cheek[1] <= 173 and 77 <= cheek[2] <= 127  # the usual YCrCb skin box
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    assert gray[int(0.16 * h), w // 2] < 70  # hair above the face
    assert gray[: int(0.08 * h), : int(0.1 * w)].mean() > 200  # light background in the corner


@pytest.mark.parametrize("seed", range(20))
def test_bank_cards_carry_a_luhn_number_and_the_unionpay_mark(seed: int) -> None:
    card = render("bank_card", 600, seed)
    number = card.fields["card_number"]
    assert 16 <= len(number) <= 19 and number.isdigit() and luhn_ok(number)
    assert sd.luhn_digit(number[:-1]) == number[-1]
    grouped = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    assert grouped in card.texts and {"银联", "UnionPay"} <= set(card.texts)
    assert card.fields["bank"] in card.texts and "银行" in card.fields["bank"]
    assert re.fullmatch(r"(0[1-9]|1[0-2])/\d\d", card.fields["expiry"])


@pytest.mark.parametrize("seed", range(20))
def test_licences_carry_a_well_formed_credit_code(seed: int) -> None:
    licence = render("business_licence", 900, seed)
    code = licence.fields["credit_code"]
    assert uscc_ok(code) and code.startswith("91") and any(r[0] == code[2:8] for r in sd.REGIONS)
    assert read_id_number(code) is None  # never mistaken for an ID number
    assert {"营业执照", "统一社会信用代码", "法定代表人", code} <= set(licence.texts)


@pytest.mark.parametrize("seed", range(40))
def test_a4_pages_never_print_another_class_s_keywords(seed: int) -> None:
    page = render("a4_page", 400, seed)
    text = "\n".join(page.texts)
    assert page.fields["title"] in sd.A4_TITLES and any(page.fields["title"] in t for t in page.texts)
    assert [k for k in KEYWORDS_OF_OTHER_CLASSES if k in text] == []
    assert not re.search(r"\d{16,}", text.replace(" ", ""))  # nothing like an ID or card number
    assert len(text) > 150  # paragraphs of Chinese


def test_a4_pages_cover_every_kind() -> None:
    assert {render("a4_page", 300, s).fields["title"] for s in range(40)} == set(sd.A4_TITLES)


# --- in a scene ---------------------------------------------------------------------------


def old_scene_digest() -> str:
    """One hash over scenes of the older documents: defaults, each document, each shot kind."""
    h = hashlib.sha256()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        spec = ss.random_spec(rng, aspect=4 / 3)
        h.update(ss.render_scene(spec, 400, 300, rng).image.tobytes())
    for doc in ("id_card", "a4_form", "licence"):
        rng = np.random.default_rng(5)
        spec = ss.random_spec(rng, aspect=4 / 3, document=doc, rotation=10.0)
        h.update(ss.render_scene(spec, 800, 600, rng).image.tobytes())
    for kind in ("good", *ss.DEFECTS):
        scene, _ = ss.render_shot(kind, 320, 240, np.random.default_rng(77))
        h.update(scene.image.tobytes())
    return h.hexdigest()


def test_the_older_documents_render_exactly_as_before() -> None:
    # The value this function gave with synthetic_scene.py as it was before the Chinese prints
    # (commit e6590f3): the image-quality tests' sets depend on every pixel of these scenes.
    assert old_scene_digest() == "5b0fafea3662ad7ad4ce0566b75bbdadb998f40a6f180835bb0fc9ecd0f0b391"


def test_random_specs_pick_the_older_documents_unless_told() -> None:
    rng = np.random.default_rng(0)
    assert {ss.random_spec(rng).document for _ in range(100)} == set(ss.DOCUMENTS)
    for doc in ss.CLASS_DOCUMENTS:
        for _ in range(10):
            spec = ss.random_spec(rng, document=doc)
            assert spec.document == doc
            low, high = (0.1, 0.3) if doc in sd.CARDS else (0.2, 0.5)
            assert low * 0.9**10 <= spec.coverage <= high  # (shrunk only when too big for the frame)


@pytest.mark.parametrize("document", ss.CLASS_DOCUMENTS)
def test_labelled_scenes_tell_the_truth(document: str) -> None:
    scene, label = ss.labelled_scene(document, np.random.default_rng(9), 1600, 1200)
    assert label.document == document and label.cls == sd.DOCUMENT_CLASS[document]
    assert label.spec.document == document and scene.corners is not None
    assert scene.image.shape == (1200, 1600, 3)
    if document in ss.IDENTITY_DOCUMENTS:
        assert label.identity is not None and label.spec.identity == label.identity
        if document != "id_card_back":
            assert label.fields["id_number"] == label.identity.number
    else:
        assert label.identity is None
    for x, y, w, h in label.boxes.values():
        assert min(x, y) >= 0 and max(x + w, y + h) <= 1 and min(w, h) > 0
    if document == "id_card_front":
        assert label.boxes["id_number"][1] > 0.75 and label.boxes["photo"][0] > 0.5
    # The same truth again from the same seed: the set is reproducible.
    again, label2 = ss.labelled_scene(document, np.random.default_rng(9), 1600, 1200)
    assert label2 == label and np.array_equal(again.image, scene.image)


def test_a_scene_prints_the_identity_it_is_given() -> None:
    who = sd.make_identity(np.random.default_rng(3), valid=False)
    _, label = ss.labelled_scene("id_card_front", np.random.default_rng(4), 1600, 1200, identity=who)
    assert label.identity == who and label.fields["id_number"] == who.number
    spec = dataclasses.replace(ss.random_spec(np.random.default_rng(4), document="id_card_front"), identity=who)
    a = ss.render_scene(spec, 800, 600, np.random.default_rng(1)).image
    b = ss.render_scene(dataclasses.replace(spec, identity=None), 800, 600, np.random.default_rng(1)).image
    assert not np.array_equal(a, b)  # no identity given: another resident, drawn from the rng


def test_card_masks_round_the_corners() -> None:
    mask = sd.card_mask(856, 540)
    assert mask[0, 0] == 0 and mask[270, 428] == 255 and mask[0, 428] == 255
    scene, label = ss.labelled_scene("bank_card", np.random.default_rng(2), 1600, 1200)
    assert label.spec.coverage <= 0.3
