"""Masking personal numbers in free text: table-driven, no event loop."""

from __future__ import annotations

import pytest

from window_server.domain.privacy import id_check_char, is_resident_id, mask_free_text


@pytest.mark.parametrize(("text", "masked"), [
    # the outside test's comment: name / ID number / mobile
    ("张三丰 / 310101199001011234 / 13800138000", "张三丰 / 310101********1234 / 138****8000"),
    ("身份证33010619900101123X，请回电", "身份证330106********123X，请回电"),
    ("id 33010619900101123x.", "id 330106********123x."),
    ("旧证 310101900101123 已换", "旧证 310101*****1123 已换"),  # 15 digits: first-generation ID
    ("电话 138 0013 8000 或 139-1234-5678", "电话 138 **** 8000 或 139-****-5678"),
    ("+86 13800138000 / 8613800138000", "+86 138****8000 / 86138****8000"),
    ("３１０１０１１９９００１０１１２３４", "３１０１０１********１２３４"),  # full-width digits
    ("１３８００１３８０００", "１３８****８０００"),
    ("ID310101199001011234号", "ID310101********1234号"),
    # not ID or mobile numbers: they stay as written
    ("310101199001011235", "310101199001011235"),  # 18 digits, wrong check digit
    ("33010619900101123X9", "33010619900101123X9"),  # part of a longer run
    ("3101011990010112345", "3101011990010112345"),  # 19 digits (a bank card is not masked here)
    ("12800138000 and 23800138000", "12800138000 and 23800138000"),  # not 13-19
    ("138001380001", "138001380001"),  # 12 digits
    ("金额 12000.50 元，2026-03-01 到 20260301", "金额 12000.50 元，2026-03-01 到 20260301"),
    ("案号 SZ-2026-000123", "案号 SZ-2026-000123"),
    ("310101********1234 / 138****8000", "310101********1234 / 138****8000"),  # masking twice changes nothing
    ("", ""),
])
def test_id_and_mobile_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_free_text(text) == masked
    assert mask_free_text(masked) == masked


@pytest.mark.parametrize(("number", "valid"), [
    ("310101199001011234", True),
    ("11010519491231002X", True),
    ("11010519491231002x", True),
    ("110105194912310021", False),  # the check character must be X
    ("33010619900101123X", True),
    ("330106199001011234", False),
    ("310101900101123", True),  # 15 digits: no check character
    ("31010119900101123", False),
    ("31010119900101123A", False),
])
def test_gb11643_check_character(number: str, valid: bool) -> None:
    assert is_resident_id(number) is valid


def test_check_character_table() -> None:
    assert [id_check_char("31010119900101123"), id_check_char("11010519491231002")] == ["4", "X"]
