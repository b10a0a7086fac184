"""What a still is (its recognised class) and the rules of a resident ID card (居民身份证).

Pure: no I/O, no clock (``today`` is passed in). The document workers read a card's text; these
rules judge it, so the CLI, the server and the tests agree on one reading:

- the number: 18 characters, the last a GB 11643 check character (``privacy.id_check_char``);
  characters 7-14 are the birth date and the 17th digit's parity the sex (odd: 男);
- the emblem side's validity (有效期限 ``2015.03.01-2035.03.01`` or ``…-长期``), and how long a
  card is issued for by age at issue (GB/T 居民身份证法 第五条: under 16: 5 years, 16-25: 10,
  26-45: 20, 46 and over: 长期), which is how a back is checked against a front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from window_server.domain.privacy import id_check_char, mask_id_number

CLASSES: tuple[str, ...] = (
    "id_card_front", "id_card_back", "household_register", "business_licence", "bank_card", "page", "unknown",
)
"""What the document check recognises a still as; ``unknown`` never rejects on its own."""

UNKNOWN = "unknown"

CLASS_NAMES: dict[str, tuple[str, str]] = {
    "id_card_front": ("身份证人像面", "the photo side of an ID card"),
    "id_card_back": ("身份证国徽面", "the national emblem side of an ID card"),
    "household_register": ("户口簿", "a household register"),
    "business_licence": ("营业执照", "a business licence"),
    "bank_card": ("银行卡", "a bank card"),
    "page": ("纸质材料", "a paper document"),
    "unknown": ("无法识别的材料", "an unrecognised document"),
}
"""How the booth and the console name each class (Chinese, English)."""

LONG_TERM = "长期"
"""The validity of a card issued at 46 or older: it does not expire."""

_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")  # a whole run: not 18 of a bank card's 19
_DATE = re.compile(r"(\d{4})\s*[.\-/年]\s*(\d{1,2})\s*[.\-/月]\s*(\d{1,2})")


@dataclass(frozen=True)
class IdNumber:
    """An 18-character ID number as read, and what it says."""

    number: str
    valid: bool  # the check character is right and the birth date is a real date
    birth: date | None
    sex: str | None  # "男" or "女"

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def read_id_number(text: str) -> IdNumber | None:
    """Find an 18-character ID number in OCR text (spaces ignored, ``x`` read as ``X``); None if none.

    Only a whole run counts: 18 characters of a longer run of digits (a bank card's number) do not."""
    m = _NUMBER.search(re.sub(r"\s+", "", text))
    if m is None:
        return None
    number = m.group(0).upper()
    birth = _date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    valid = birth is not None and id_check_char(number[:17]) == number[17]
    return IdNumber(number, valid, birth, "男" if int(number[16]) % 2 else "女")


def read_date(text: str) -> date | None:
    """The first date written ``1954年3月7日``, ``2015.03.01`` or ``2015-03-01`` in ``text``."""
    m = _DATE.search(text)
    return None if m is None else _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def read_validity(text: str) -> tuple[date | None, date | str | None]:
    """The validity period (有效期限) in ``text``: (from, until), until a date or ``LONG_TERM``."""
    compact = re.sub(r"\s+", "", text)
    dates = [_date(int(y), int(mo), int(d)) for y, mo, d in _DATE.findall(compact)]
    start = dates[0] if dates else None
    if LONG_TERM in compact:
        return start, LONG_TERM
    return start, dates[1] if len(dates) > 1 else None


def is_expired(valid_until: date | str | None, today: date) -> bool:
    """True when the card's last valid day is before ``today``; 长期 and unread never expire."""
    return isinstance(valid_until, date) and valid_until < today


def issue_years(birth: date, issued: date) -> int | None:
    """How many years a card issued on ``issued`` to someone born on ``birth`` is valid; None: 长期."""
    age = issued.year - birth.year - ((issued.month, issued.day) < (birth.month, birth.day))
    if age < 16:
        return 5
    if age <= 25:
        return 10
    if age <= 45:
        return 20
    return None


def sides_belong(birth: date | None, valid_from: date | None, valid_until: date | str | None) -> bool | None:
    """Whether an emblem side's validity fits the holder's birth date from the photo side.

    None when the text does not allow a judgement. A card issued at age A runs for the law's
    period for A; one day of slack each way covers cards dated to the day before.
    """
    if birth is None or valid_from is None or valid_until is None or valid_from <= birth:
        return None if birth is None or valid_from is None or valid_until is None else False
    years = issue_years(birth, valid_from)
    if years is None:
        return valid_until == LONG_TERM
    if not isinstance(valid_until, date):
        return False
    try:
        expected = valid_from.replace(year=valid_from.year + years)
    except ValueError:  # 29 February
        expected = date(valid_from.year + years, 3, 1)
    return abs((valid_until - expected).days) <= 1


def iso(value: date | str | None) -> str | None:
    """A date as ``YYYY-MM-DD`` (长期 as itself) for JSON."""
    return value.isoformat() if isinstance(value, date) else value


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None
