"""What a rectified page is (its class) and what an ID card says on it; where to black it out.

``recognise_page(page)`` takes the page as ``pipeline.rectify`` returns it (upright by the corner
rule, which cannot know which way the print runs) and returns a ``Recognition``:

1. **Shape.** The page's aspect, long side over short: an ID-1 card (ID card, bank card; 85.6 x
   54 mm) is 1.585, A4 (forms, letters, the business licence) 1.414, a household-register booklet
   page below 1.45 too. ``CARD_ASPECT`` splits cards from sheets.
2. **Text lines** (``ocr.Ocr.detect``) on a copy of 512 px (cards) or 640 px (sheets).
3. **Orientation.** Lines longer than tall say whether the print runs along the page's width or
   its height; left edges that line up (labels, paragraphs) against ragged right edges say which
   end is the start; then up to three lines are recognised, and read again turned 180 degrees if
   the recogniser is unsure of them (upright print scores ~0.99, upside-down print < 0.6).
4. **Reading.** A card's lines are all read (an ID card's front is ~13 short lines, ~350 ms on
   one core); a sheet's tallest lines only (titles carry the keywords), plus, on a household
   register, the lines shaped like an 18-character number.
5. **Class** from the shape and the words: card classes (``id_card_front``, ``id_card_back``,
   ``bank_card``) only for card shapes, sheet classes (``household_register``,
   ``business_licence``) only for sheets; a card where no class's words (or number) are read is
   ``unknown``, a sheet without them is a ``page``. A portrait in a card's photo area
   (``portrait.find_portrait``) adds to a front's confidence and is masked, but never makes a
   class alone.
6. **Fields** (``words``). Front: the number (``domain.idcard.read_id_number``; letters the
   recogniser confuses with digits are read as digits only inside an 18-character run), the name after 姓名,
   性别 and 出生, checked against the number. Back: 签发机关 and 有效期限.
7. **Mask boxes** in the page's own pixels: the number line(s) and the photo area of a front,
   the card number of a bank card, the 公民身份号码 line of a household register.

Personal data (number, name, sex, birth date) stays in the ``Recognition``; only ``private()``
returns it, and nothing here logs it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import cv2
import numpy as np

from window_server.documents import ocr, portrait, words
from window_server.documents.ocr import Image, Line, Points
from window_server.documents.words import Text
from window_server.domain import idcard
from window_server.domain.idcard import CLASSES, LONG_TERM, UNKNOWN, IdNumber
from window_server.domain.materials import EXPECTED_CLASS, is_wrong_kind
from window_server.domain.privacy import mask_id_number

CARD_ASPECT = (1.46, 1.76)
"""Long over short side of a card (ID-1: 85.6 / 54 = 1.585); A4 (1.414) and booklets are below."""

CARD_DET_SIDE = 512  # text lines are found on a copy this long: a card's print is ~18 px high there
SHEET_DET_SIDE = 640  # a sheet's titles and labels ~12-30 px (its small print may be missed)
CARD_BUDGET = 4800  # px of 48-px-high line recognised per card (an ID front is ~2,800)
CARD_MAX_LINES = 24  # a card prints ~6-16 lines; more, and a card-shaped page is read as a sheet
SHEET_BUDGET = 1800
SHEET_LINES = 6
SHEET_HEAD = 480  # a sheet's long lines are read up to this width (keywords open a line)
_PROBE_LINES = 3
_SURE = 0.85  # a probe's mean confidence above which the orientation is taken as found

# The words that name each class (a word of 5+ characters may have one misread).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "id_card_front": ("公民身份号码", "姓名", "性别", "民族", "出生", "住址"),
    "id_card_back": ("中华人民共和国", "居民身份证", "签发机关", "有效期限"),
    "household_register": ("常住人口登记卡", "户口簿", "户主", "户别", "户号", "曾用名", "公民身份证件编号", "兵役状况",
                           "何时由何地迁来"),
    "business_licence": ("营业执照", "统一社会信用代码", "法定代表人", "注册资本", "经营范围", "登记机关"),
    "bank_card": ("银联", "UNIONPAY", "银行", "借记卡", "信用卡", "DEBIT", "CREDIT"),
}
TITLES: dict[str, tuple[str, ...]] = {  # count twice: enough on their own on a sheet
    "household_register": ("常住人口登记卡", "户口簿", "与户主关系"),
    "business_licence": ("营业执照", "统一社会信用代码"),
}
CARD_CLASSES = ("id_card_front", "id_card_back", "bank_card")
SHEET_CLASSES = ("household_register", "business_licence")

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Recognition:
    """What a still is and what was read on it. Fields marked PRIVATE are personal data."""

    cls: str  # one of CLASSES
    confidence: float  # 0..1
    id_number: str | None = None  # full, as read - PRIVATE
    id_number_valid: bool | None = None
    name: str | None = None  # PRIVATE
    sex: str | None = None  # PRIVATE, as printed
    birth_date: date | None = None  # PRIVATE, as printed (出生)
    fields_consistent: bool | None = None  # printed 出生/性别 agree with the number
    valid_from: date | None = None
    valid_until: date | str | None = None  # a date or "长期"
    issuer: str | None = None  # 签发机关
    mask_boxes: tuple[Box, ...] = ()  # x, y, w, h in the page image's pixels
    ms: float = 0.0

    def public(self, today: date) -> dict[str, Any]:
        """JSON-safe, without personal data: the class, and what a client may show of the card."""
        out: dict[str, Any] = {"class": self.cls, "confidence": round(self.confidence, 3)}
        if self.cls == "id_card_front":
            out["id_number_masked"] = None if self.id_number is None else mask_id_number(self.id_number)
            out["id_number_valid"] = self.id_number_valid
        elif self.cls == "id_card_back":
            out["valid_until"] = idcard.iso(self.valid_until)
            out["expired"] = None if self.valid_until is None else idcard.is_expired(self.valid_until, today)
        out["ms"] = self.ms
        return out

    def private(self) -> dict[str, Any]:
        """JSON-safe personal fields (None where unread): for the serving specialist only."""
        return {
            "id_number": self.id_number,
            "name": self.name,
            "sex": self.sex,
            "birth_date": idcard.iso(self.birth_date),
            "valid_from": idcard.iso(self.valid_from),
            "valid_until": idcard.iso(self.valid_until),
            "issuer": self.issuer,
        }

    def reasons(self, kind: str | None, today: date) -> list[str]:
        """The recognition's reasons: wrong_kind (when ``kind`` is given), id_number_invalid,
        expired, in that order. ``kind`` is a material kind, or (the CLI's ``--expect``) a class."""
        out = []
        if kind is not None and (is_wrong_kind(kind, self.cls) or (
                kind in CLASSES and kind not in EXPECTED_CLASS and self.cls not in (kind, UNKNOWN))):
            out.append("wrong_kind")
        if self.cls == "id_card_front" and self.id_number is not None and (
                self.id_number_valid is False or self.fields_consistent is False):
            out.append("id_number_invalid")
        if self.cls == "id_card_back" and idcard.is_expired(self.valid_until, today):
            out.append("expired")
        return out


def unknown(ms: float = 0.0) -> Recognition:
    """The recognition of a still without a page."""
    return Recognition(UNKNOWN, 0.0, ms=ms)


# --- the reading frame -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """The page seen upright: its print turned ``turns`` quarter turns clockwise in the image."""

    width: int  # of the page image
    height: int
    turns: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright view."""
        return (self.height, self.width) if self.turns % 2 else (self.width, self.height)

    def to_upright(self, pts: Points) -> Points:
        """Map page points into the upright view (each turn: counter-clockwise, as cv2.rotate)."""
        p = np.asarray(pts, np.float32).reshape(-1, 2).copy()
        w, h = self.width, self.height
        for _ in range(self.turns % 4):
            p = np.stack([p[:, 1], w - p[:, 0]], axis=1)
            w, h = h, w
        return p

    def to_page(self, pts: Points) -> Points:
        """Map points of the upright view back into page pixels."""
        p = np.asarray(pts, np.float32).reshape(-1, 2).copy()
        w, h = self.size
        for _ in range(self.turns % 4):
            p = np.stack([h - p[:, 1], p[:, 0]], axis=1)  # one clockwise turn
            w, h = h, w
        return p

    def reading(self, box: Points) -> Points:
        """A detected box's corners with the text's own top-left first."""
        return np.roll(np.asarray(box, np.float32), -(self.turns % 4), axis=0)

    def upright_image(self, page: Image) -> Image:
        codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
        return page if self.turns % 4 == 0 else cv2.rotate(page, codes[self.turns % 4])


def _extent(frame: _Frame, box: Points) -> tuple[float, float, float, float]:
    p = frame.to_upright(box)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def _units(frame: _Frame, box: Points) -> float:
    """What recognising a box costs: its width at 48 px high."""
    x0, y0, x1, y1 = _extent(frame, box)
    return (x1 - x0) * ocr.REC_HEIGHT / max(1.0, y1 - y0)


# --- the recogniser ---------------------------------------------------------------------------


def recognise_page(page: Image) -> Recognition:
    """Recognise a rectified page (BGR, any size): class, ID card fields, areas to mask."""
    start = time.perf_counter()
    h, w = page.shape[:2]
    if min(h, w) < 32:
        return unknown(_ms(start))
    aspect = max(w, h) / min(w, h)
    card = CARD_ASPECT[0] <= aspect <= CARD_ASPECT[1]
    engine = ocr.engine()
    boxes = engine.detect(page, CARD_DET_SIDE if card else SHEET_DET_SIDE)
    if card and len(boxes) > CARD_MAX_LINES:  # a sheet whose outline was found wrong
        card = False
    if not boxes:
        return Recognition(UNKNOWN if card else "page", 0.0 if card else 0.3, ms=_ms(start))
    frame, read = _orient(engine, page, boxes, card)
    if not card:
        _read_more(engine, page, frame, _sheet_lines(frame, boxes), read)
        texts = [_place(frame, line) for line in read.values()]
        cls = _sheet_class(texts)
        if cls == "household_register":  # its 公民身份证件编号 cell, to mask
            _read_more(engine, page, frame, _number_shaped(frame, boxes, read), read)
            texts = [_place(frame, line) for line in read.values()]
        return _finish(_sheet(cls, texts, frame), start)
    now, later = _card_lines(frame, boxes)
    _read_more(engine, page, frame, now, read)
    result = _card(page, frame, [_place(frame, line) for line in read.values()])
    if later and (result.cls != "id_card_front" or result.id_number is None):
        _read_more(engine, page, frame, later, read)
        result = _card(page, frame, [_place(frame, line) for line in read.values()])
    return _finish(result, start)


def _key(box: Points) -> bytes:
    return np.asarray(box, np.float32).tobytes()


def _read_more(engine: ocr.Ocr, page: Image, frame: _Frame, boxes: list[Points], read: dict[bytes, Line]) -> None:
    """Recognise the boxes not read yet into ``read`` (keyed by the box's corners)."""
    todo = [b for b in boxes if _key(b) not in read]
    for b, line in zip(todo, engine.lines(page, [frame.reading(b) for b in todo]), strict=True):
        read[_key(b)] = line


def _finish(r: Recognition, start: float) -> Recognition:
    return dataclasses.replace(r, ms=_ms(start))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


def _place(frame: _Frame, line: Line) -> Text:
    x0, y0, x1, y1 = _extent(frame, line.box)
    return Text(words.clean(line.text), line.score, line.box, x0, y0, x1, y1)


def _orient(engine: ocr.Ocr, page: Image, boxes: list[Points], card: bool) -> tuple[_Frame, dict[bytes, Line]]:
    """Find which way the print runs; return the frame and the probe lines already read."""
    h, w = page.shape[:2]
    along = across = 0.0
    for b in boxes:
        bw, bh = float(np.linalg.norm(b[1] - b[0])), float(np.linalg.norm(b[3] - b[0]))
        if bw >= 1.8 * bh:
            along += bw
        elif bh >= 1.8 * bw:
            across += bh
    if along == across == 0.0:
        turns = 1 if card and h > w else 0
    else:
        turns = 1 if across > along else 0
    frame = _Frame(w, h, turns)
    if _upside_down(frame, boxes, card):
        frame = _Frame(w, h, turns + 2)
    probes = _probes(frame, boxes)
    if not probes:
        return frame, {}
    first = engine.lines(page, [frame.reading(b) for b in probes])
    sure = float(np.mean([ln.score for ln in first]))
    # Upright print reads at ~0.99; one clear line of four characters or more settles it (a seal's
    # curved inscription or a signature among the probes reads badly either way up).
    if sure >= _SURE or any(ln.score >= 0.95 and len(words.clean(ln.text)) >= 4 for ln in first):
        return frame, {_key(b): ln for b, ln in zip(probes, first, strict=True)}
    flipped = _Frame(w, h, frame.turns + 2)
    second = engine.lines(page, [flipped.reading(b) for b in probes])
    if float(np.mean([ln.score for ln in second])) > sure:
        return flipped, {_key(b): ln for b, ln in zip(probes, second, strict=True)}
    return frame, {_key(b): ln for b, ln in zip(probes, first, strict=True)}


def _upside_down(frame: _Frame, boxes: list[Points], card: bool) -> bool:
    """A guess, before reading: more lines share a right edge than a left edge (labels and
    paragraphs start flush left). Where that is a tie (justified text), a sheet whose tallest
    line (its title) is in the lower half is upside down."""
    all_ext = [_extent(frame, b) for b in boxes]
    ext = [e for e in all_ext if e[2] - e[0] >= 1.8 * (e[3] - e[1])] or all_ext
    tol = 0.012 * frame.size[0]

    def shared(values: list[float]) -> int:
        return sum(any(abs(v - u) <= tol for j, u in enumerate(values) if j != i) for i, v in enumerate(values))

    left, right = shared([e[0] for e in ext]), shared([e[2] for e in ext])
    if card or abs(left - right) >= 2:
        return right > left
    tallest = max(all_ext, key=lambda e: e[3] - e[1])
    return (tallest[1] + tallest[3]) / 2 > frame.size[1] / 2


def _probes(frame: _Frame, boxes: list[Points]) -> list[Points]:
    """Up to three clear lines, cheap to read: the tallest of those 2-12 times as wide as tall."""
    shaped = []
    for b in boxes:
        x0, y0, x1, y1 = _extent(frame, b)
        ratio = (x1 - x0) / max(1.0, y1 - y0)
        if 2.0 <= ratio <= 12.0:
            shaped.append((y1 - y0, b))
    shaped.sort(key=lambda t: -t[0])
    return [b for _, b in shaped[:_PROBE_LINES]]


def _card_lines(frame: _Frame, boxes: list[Points]) -> tuple[list[Points], list[Points]]:
    """A card's lines to read first, and those read only if the card is not a front with its
    number read: long lines across the middle (a front's address; a back's issuer, a bank card's
    number). Within ``CARD_BUDGET``; the widest line low on the card comes first (a front's
    number, a back's validity)."""
    height = frame.size[1]
    lower = [b for b in boxes if _extent(frame, b)[1] > 0.62 * height]
    first = sorted(lower, key=lambda b: -_units(frame, b))[:1]
    rest = sorted((b for b in boxes if not any(b is f for f in first)), key=lambda b: _units(frame, b))
    now: list[Points] = []
    later: list[Points] = []
    budget = float(CARD_BUDGET)
    for b in [*first, *rest]:
        cost = _units(frame, b)
        if cost > budget and now:
            continue
        budget -= cost
        _, y0, _, y1 = _extent(frame, b)
        middle = 0.45 * height <= (y0 + y1) / 2 <= 0.8 * height
        (later if middle and cost > 350 and not any(b is f for f in first) else now).append(b)
    return now, later


def _sheet_lines(frame: _Frame, boxes: list[Points]) -> list[Points]:
    """A sheet's tallest lines (titles and labels carry the keywords), long ones cut to their head."""
    tallest = sorted(boxes, key=lambda b: -(_extent(frame, b)[3] - _extent(frame, b)[1]))[:SHEET_LINES]
    out: list[Points] = []
    budget = float(SHEET_BUDGET)
    for b in tallest:
        head = _head(frame, b, SHEET_HEAD)
        cost = _units(frame, head)
        if cost <= budget or not out:
            out.append(head)
            budget -= cost
    return out


def _head(frame: _Frame, box: Points, units: float) -> Points:
    """The box cut to its first ``units`` (px at 48 px high) in reading order, or the box itself."""
    have = _units(frame, box)
    if have <= units:
        return box
    tl, tr, br, bl = frame.reading(box)
    f = units / have
    cut = np.stack([tl, tl + f * (tr - tl), bl + f * (br - bl), bl]).astype(np.float32)
    return np.roll(cut, frame.turns % 4, axis=0)


def _number_shaped(frame: _Frame, boxes: list[Points], read: dict[bytes, Line]) -> list[Points]:
    """Unread lines of a household register shaped like an 18-character number (within a budget)."""
    out: list[Points] = []
    budget = float(SHEET_BUDGET)
    for b in sorted(boxes, key=lambda b: _units(frame, b)):
        x0, y0, x1, y1 = _extent(frame, b)
        if _key(b) not in read and 7.0 <= (x1 - x0) / max(1.0, y1 - y0) <= 16.0 and _units(frame, b) <= budget:
            out.append(b)
            budget -= _units(frame, b)
    return out


# --- classes ----------------------------------------------------------------------------------


def _hits(texts: list[Text], cls: str) -> int:
    joined = words.joined(texts)
    return sum(words.has(joined, k) for k in KEYWORDS[cls])


def _sheet_class(texts: list[Text]) -> str:
    """A sheet is a household register or a business licence by a title word (常住人口登记卡,
    营业执照, ...) or two of its other words; any other sheet is a page."""
    joined = words.joined(texts)
    scores = {c: _hits(texts, c) + sum(words.has(joined, k) for k in TITLES[c]) for c in SHEET_CLASSES}
    best = max(SHEET_CLASSES, key=lambda c: scores[c])
    return best if scores[best] >= 2 else "page"


def _sheet(cls: str, texts: list[Text], frame: _Frame) -> Recognition:
    if cls == "page":
        clear = [t for t in texts if t.score >= 0.7 and len(t.text) >= 2]
        return Recognition("page", 0.7 if len(clear) >= 2 else 0.4)
    masks: list[Box] = []
    if cls == "household_register":
        for row in words.group_rows(texts):
            found = words.id_in(words.row_text(row))
            if found is not None:
                masks += [_pad(t.box, frame, 0.3) for t in row if words.digit_count(t.text) >= 3]
    return Recognition(cls, _confidence(_hits(texts, cls)), mask_boxes=tuple(masks))


def _confidence(score: float) -> float:
    return round(min(0.99, 0.55 + 0.15 * score), 3)


# --- cards --------------------------------------------------------------------------------------


def _card(page: Image, frame: _Frame, texts: list[Text]) -> Recognition:
    joined = words.joined(texts)
    for sheet in SHEET_CLASSES:  # a sheet's title on a card-shaped page: its outline was found wrong
        if any(words.has(joined, k) for k in TITLES[sheet]):
            return _sheet(sheet, texts, frame)
    rows = words.group_rows(texts)
    number, number_row = words.front_number(rows)
    card_number_row = words.bank_number(rows)
    scores = {c: float(_hits(texts, c)) for c in CARD_CLASSES}
    if number is not None:
        scores["id_card_front"] += 1.5
    if card_number_row is not None:
        scores["bank_card"] += 2.0
    best = max(CARD_CLASSES, key=lambda c: scores[c])
    if scores[best] < 1.0:
        return Recognition(UNKNOWN, 0.2 if texts else 0.0)
    if best == "id_card_front":
        photo = portrait.find_portrait(frame.upright_image(page))
        return _front(frame, rows, number, number_row, photo, scores[best])
    if best == "id_card_back":
        return _back(rows, scores[best])
    masks = tuple(_pad(t.box, frame, 0.3) for t in card_number_row or [] if words.digit_count(t.text) >= 2)
    return Recognition("bank_card", _confidence(scores[best]), mask_boxes=masks)


def _front(frame: _Frame, rows: list[list[Text]], number: IdNumber | None, number_row: list[Text] | None,
           photo_area: Box | None, score: float) -> Recognition:
    name = words.after(rows, "姓名")
    name = re.sub(r"[^\u4e00-\u9fff·]", "", name or "") or None
    sex_text = words.after(rows, "性别") or ""
    sex_match = re.match(r"[男女]", sex_text)
    sex = sex_match.group(0) if sex_match else None
    birth_text = words.after(rows, "出生")
    birth = idcard.read_date(words.digits_only(birth_text)) if birth_text else None
    checks = []
    if number is not None and number.birth is not None and birth is not None:
        checks.append(number.birth == birth)
    if number is not None and sex is not None and number.sex is not None:
        checks.append(number.sex == sex)
    uw, uh = frame.size
    masks = [_pad(t.box, frame, 0.3) for t in number_row or words.number_area(rows, uh) if words.digit_count(t.text) >= 2]
    if not masks:  # nothing read there (a finger over it, glare): where the number is printed
        masks.append(_box_to_page(frame, (round(0.30 * uw), round(0.78 * uh), round(0.68 * uw), round(0.21 * uh))))
    photo = photo_area or (round(0.60 * uw), round(0.06 * uh), round(0.37 * uw), round(0.80 * uh))
    masks.append(_box_to_page(frame, photo))
    return Recognition(
        "id_card_front",
        _confidence(score + (0.5 if photo_area else 0.0)),
        id_number=None if number is None else number.number,
        id_number_valid=None if number is None else number.valid,
        name=name,
        sex=sex,
        birth_date=birth,
        fields_consistent=all(checks) if checks else None,
        mask_boxes=tuple(masks),
    )


def _back(rows: list[list[Text]], score: float) -> Recognition:
    issuer = words.after(rows, "签发机关")
    issuer = re.sub(r"[^\u4e00-\u9fff]", "", issuer or "") or None
    validity = words.after(rows, "有效期限")
    if validity is None:  # the label unread: a row with two dates, or a date and 长期
        for row in rows:
            text = words.row_text(row)
            found = len(words.DATES.findall(words.digits_only(text)))
            if found >= 2 or (found == 1 and words.has(text, LONG_TERM)):
                validity = text
                break
    valid_from, valid_until = idcard.read_validity(words.digits_only(validity)) if validity else (None, None)
    if valid_until is None and validity and words.has(validity, LONG_TERM):
        valid_until = LONG_TERM
    return Recognition("id_card_back", _confidence(score), valid_from=valid_from, valid_until=valid_until,
                       issuer=issuer)


# --- masks ----------------------------------------------------------------------------------------


def _box_to_page(frame: _Frame, box: Box) -> Box:
    x, y, bw, bh = box
    p = frame.to_page(np.array([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]], np.float32))
    return _clip(float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()),
                 frame)


def _pad(box: Points, frame: _Frame, share: float) -> Box:
    """The box's axis-aligned extent in page pixels, grown by ``share`` of the line height."""
    p = np.asarray(box, np.float32)
    height = max(float(np.linalg.norm(p[3] - p[0])), float(np.linalg.norm(p[2] - p[1])))
    pad = share * height
    return _clip(float(p[:, 0].min()) - pad, float(p[:, 1].min()) - pad, float(p[:, 0].max()) + pad,
                 float(p[:, 1].max()) + pad, frame)


def _clip(x0: float, y0: float, x1: float, y1: float, frame: _Frame) -> Box:
    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(frame.width, int(np.ceil(x1))), min(frame.height, int(np.ceil(y1)))
    return (ix0, iy0, max(0, ix1 - ix0), max(0, iy1 - iy0))


def mask(page: Image, boxes: tuple[Box, ...] | list[Box]) -> Image:
    """A copy of the page with each box filled solid black."""
    out = page.copy()
    for x, y, bw, bh in boxes:
        if bw > 0 and bh > 0:
            cv2.rectangle(out, (x, y), (x + bw - 1, y + bh - 1), (0, 0, 0), -1)
    return out
