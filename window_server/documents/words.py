"""Reading recognised lines: words despite misreads, rows, label values, ID and card numbers.

Pure text and geometry over the lines ``recognise`` placed in the upright view of a page: no OCR
here. What counts as a misread (a character of a 5+ character word; letters the recogniser gives
for digits, read as digits only inside an 18-character run) is decided here, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from window_server.documents.ocr import Points
from window_server.domain import idcard
from window_server.domain.idcard import IdNumber


@dataclass(frozen=True)
class Text:
    """A recognised line placed in the upright view."""

    text: str
    score: float
    box: Points  # page pixels, reading order
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def clean(text: str) -> str:
    """A line's text without spaces, with full-width colons as ``:``."""
    return re.sub(r"\s+", "", text).replace("：", ":")


def has(text: str, word: str) -> bool:
    """``word`` in ``text``; one character in four beyond the first may be misread (OCR)."""
    if word in text:
        return True
    slack = (len(word) - 1) // 4
    if slack == 0 or len(text) < len(word):
        return False
    n = len(word)
    return any(sum(a != b for a, b in zip(text[i:i + n], word, strict=True)) <= slack
               for i in range(len(text) - n + 1))


def joined(texts: list[Text]) -> str:
    """All text, row by row (a title the detector split in two is whole again)."""
    return "\n".join(row_text(r) for r in group_rows(texts)).upper()


DATES = re.compile(r"\d{4}[.\-/年]\d{1,2}[.\-/月]\d{1,2}")
# Letters the recogniser gives for digits; read as digits only where a digit must be.
_DIGIT_LIKE = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1",
                             "i": "1", "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "G": "6",
                             "b": "6", "g": "9", "q": "9"})
_LOOK_ALIKES = "ODQIl|iZzSsBGbgqo"
_RUN = re.compile(r"[0-9ODQIl|iZzSsBGbgqo]{17}[0-9ODQIl|iZzSsBGbgqoXx×]")
_NUMBER_CHARS = re.compile(r"[0-9ODQIl|iZzSsBGbgqoXx×]+")


def digit_count(text: str) -> int:
    """How many digits ``text`` has."""
    return sum(c.isdigit() for c in text)


def digits_only(text: str) -> str:
    """Date text with the recogniser's look-alikes read as digits and separators as dots."""
    text = re.sub(r"[．·,，。、]", ".", text)
    return re.sub(r"(?<=[\d.])[OoDIl|]|[OoDIl|](?=[\d.])", lambda m: m.group(0).translate(_DIGIT_LIKE), text)


def id_in(text: str) -> IdNumber | None:
    """An 18-character ID number in ``text``: a run of exactly 18 digits (or look-alikes, at
    most three) ending in a digit or X; a misread label character next to it is dropped."""
    for run in _NUMBER_CHARS.findall(text):
        for body in dict.fromkeys((run, run.strip(_LOOK_ALIKES), run.lstrip(_LOOK_ALIKES))):
            if len(body) != 18 or not _RUN.fullmatch(body) or sum(not c.isdigit() for c in body[:17]) > 3:
                continue
            last = "X" if body[17] in "Xx×" else body[17].translate(_DIGIT_LIKE)
            found = idcard.read_id_number(body[:17].translate(_DIGIT_LIKE) + last)
            if found is not None:
                return found
    return None


def front_number(rows: list[list[Text]]) -> tuple[IdNumber | None, list[Text] | None]:
    """The ID number and the row it is on; the row labelled 公民身份号码 first, then bottom up."""
    labelled = [r for r in rows if has(row_text(r), "公民身份号码")]
    for row in [*labelled, *reversed(rows)]:
        text = row_text(row).replace("公民身份号码", "")
        found = id_in(text)
        if found is not None:
            return found, row
    return None, None


def number_area(rows: list[list[Text]], height: float) -> list[Text]:
    """Where a front's number is when it could not be read: right of 公民身份号码, or low down."""
    out = []
    for row in rows:
        labelled = [t for t in row if has(t.text, "公民身份号码")]
        if labelled:
            out += [t for t in row if t.x0 >= labelled[0].x1 - 2]
        elif row[0].y0 > 0.75 * height:
            out += row
    return out


def bank_number(rows: list[list[Text]]) -> list[Text] | None:
    """The row holding a 16-19 digit card number whose Luhn check holds."""
    for row in rows:
        number = "".join(c for c in "".join(t.text for t in row if digit_count(t.text) >= 2) if c.isdigit())
        if 16 <= len(number) <= 19 and luhn(number):
            return row
    return None


def luhn(digits: str) -> bool:
    """The Luhn (ISO/IEC 7812) check of a card number."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def group_rows(texts: list[Text]) -> list[list[Text]]:
    """Lines grouped into rows (centres within half a line's height), each left to right."""
    out: list[list[Text]] = []
    for t in sorted(texts, key=lambda t: t.cy):
        for row in out:
            ref = row[0]
            if abs(ref.cy - t.cy) <= 0.5 * min(ref.height, t.height):
                row.append(t)
                break
        else:
            out.append([t])
    return [sorted(r, key=lambda t: t.x0) for r in out]


def row_text(row: list[Text]) -> str:
    """A row's text, left to right, without spaces."""
    return "".join(t.text for t in row)


def after(rows: list[list[Text]], label: str) -> str | None:
    """The text after ``label`` in its row (a label of 5+ characters may have one misread)."""
    n = len(label)
    for row in rows:
        text = row_text(row)
        if label in text:
            return text.split(label, 1)[1].lstrip(":") or None
        if n >= 5:
            for i in range(len(text) - n + 1):
                if has(text[i:i + n], label):
                    return text[i + n:].lstrip(":") or None
    return None
