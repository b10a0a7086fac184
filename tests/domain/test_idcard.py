"""The resident ID card's rules (domain/idcard.py): the number, dates, validity, sides. Pure, table-driven."""

from __future__ import annotations

from datetime import date

import pytest

from window_server.domain import idcard
from window_server.domain.idcard import LONG_TERM, IdNumber
from window_server.domain.privacy import id_check_char

# 11010519491231002X: the GB 11643 standard's own example (a woman: 17th digit 2 is even).
STANDARD = "11010519491231002X"
MAN = "110101" + "19900307" + "123"
MAN += id_check_char(MAN)
WRONG_CHECK = MAN[:17] + ("0" if MAN[17] != "0" else "1")


@pytest.mark.parametrize(("text", "want"), [
    (STANDARD, IdNumber(STANDARD, True, date(1949, 12, 31), "女")),
    (STANDARD.lower(), IdNumber(STANDARD, True, date(1949, 12, 31), "女")),  # x read as X
    (f"公民身份号码 {STANDARD[:6]} {STANDARD[6:14]} {STANDARD[14:]}", IdNumber(STANDARD, True, date(1949, 12, 31), "女")),
    (MAN, IdNumber(MAN, True, date(1990, 3, 7), "男")),
    (WRONG_CHECK, IdNumber(WRONG_CHECK, False, date(1990, 3, 7), "男")),  # read, but invalid
    ("110101" + "19900230" + "1230", IdNumber("110101199002301230", False, None, "男")),  # 30 February
    ("no number here", None),
    ("11010519491231002", None),  # 17 characters
    ("6222021234567890123", None),  # 19 digits: a bank card's number, not an ID number
    ("9" + STANDARD, None),  # part of a longer run of digits
])
def test_read_id_number(text: str, want: IdNumber | None) -> None:
    assert idcard.read_id_number(text) == want


def test_an_id_number_masks_to_the_one_shape() -> None:
    read = idcard.read_id_number(STANDARD)
    assert read is not None and read.masked == "110105********002X"


@pytest.mark.parametrize(("text", "want"), [
    ("1954年3月7日", date(1954, 3, 7)),
    ("出生 1954 年 3 月 7 日", date(1954, 3, 7)),
    ("2015.03.01", date(2015, 3, 1)),
    ("2015-03-01", date(2015, 3, 1)),
    ("2015/3/1", date(2015, 3, 1)),
    ("2015.02.30", None),  # not a date
    ("no date", None),
])
def test_read_date(text: str, want: date | None) -> None:
    assert idcard.read_date(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("2015.03.01-2035.03.01", (date(2015, 3, 1), date(2035, 3, 1))),
    ("有效期限 2015.03.01 - 2035.03.01", (date(2015, 3, 1), date(2035, 3, 1))),
    ("2015.03.01-长期", (date(2015, 3, 1), LONG_TERM)),
    ("2015.03.01 - 长 期", (date(2015, 3, 1), LONG_TERM)),
    ("2015.03.01-", (date(2015, 3, 1), None)),
    ("", (None, None)),
])
def test_read_validity(text: str, want: tuple[date | None, date | str | None]) -> None:
    assert idcard.read_validity(text) == want


@pytest.mark.parametrize(("until", "today", "want"), [
    (date(2026, 12, 2), date(2026, 12, 3), True),
    (date(2026, 12, 3), date(2026, 12, 3), False),  # valid through its last day
    (date(2030, 1, 1), date(2026, 12, 3), False),
    (LONG_TERM, date(2126, 12, 3), False),
    (None, date(2026, 12, 3), False),  # unread: never expired
])
def test_is_expired(until: date | str | None, today: date, want: bool) -> None:
    assert idcard.is_expired(until, today) is want


@pytest.mark.parametrize(("birth", "issued", "years"), [
    (date(2010, 6, 1), date(2026, 5, 31), 5),  # 15, the day before 16
    (date(2010, 6, 1), date(2026, 6, 1), 10),  # 16
    (date(2000, 6, 1), date(2026, 5, 31), 10),  # 25
    (date(2000, 6, 1), date(2026, 6, 1), 20),  # 26
    (date(1980, 6, 1), date(2026, 5, 31), 20),  # 45
    (date(1980, 6, 1), date(2026, 6, 1), None),  # 46: 长期
])
def test_issue_years_follow_the_age_at_issue(birth: date, issued: date, years: int | None) -> None:
    assert idcard.issue_years(birth, issued) == years


@pytest.mark.parametrize(("birth", "valid_from", "valid_until", "want"), [
    (date(1990, 3, 7), date(2015, 3, 1), date(2025, 3, 1), True),  # 24 at issue: 10 years
    (date(1990, 3, 7), date(2015, 3, 1), date(2025, 2, 28), True),  # a day short: slack
    (date(1990, 3, 7), date(2015, 3, 1), date(2035, 3, 1), False),  # 20 years at 24
    (date(1960, 1, 1), date(2015, 3, 1), LONG_TERM, True),  # 55: 长期
    (date(1990, 3, 7), date(2015, 3, 1), LONG_TERM, False),
    (date(1960, 1, 1), date(2015, 3, 1), date(2035, 3, 1), False),  # 55 but dated
    (date(2000, 1, 1), date(2016, 2, 29), date(2026, 3, 1), True),  # 29 February + 10 years
    (date(2020, 1, 1), date(2015, 3, 1), date(2020, 3, 1), False),  # issued before birth
    (None, date(2015, 3, 1), date(2025, 3, 1), None),
    (date(1990, 3, 7), None, date(2025, 3, 1), None),
    (date(1990, 3, 7), date(2015, 3, 1), None, None),
])
def test_sides_belong(birth: date | None, valid_from: date | None, valid_until: date | str | None,
                      want: bool | None) -> None:
    assert idcard.sides_belong(birth, valid_from, valid_until) is want


@pytest.mark.parametrize(("value", "want"), [
    (date(2035, 3, 1), "2035-03-01"), (LONG_TERM, "长期"), (None, None),
])
def test_iso(value: date | str | None, want: str | None) -> None:
    assert idcard.iso(value) == want


def test_every_class_has_names_and_unknown_is_one() -> None:
    assert set(idcard.CLASS_NAMES) == set(idcard.CLASSES)
    assert idcard.UNKNOWN in idcard.CLASSES
    assert all(zh and en for zh, en in idcard.CLASS_NAMES.values())
