"""Personal numbers in free text: resident ID numbers and mainland mobile numbers are masked.

Free text (notes, reasons, rating comments, case numbers) is masked once, where it enters
(``signaling/protocol.py`` marks those fields), so what is stored, logged in the event streams
and pushed to the other party never carries the number in full. There is one masked shape,
``mask_id_number``'s, for every ID number the product shows (free text, the ID cards the document
check reads, the dashboards' exports): ``310101********1234`` (the region code and the last four
stay); a mobile is ``138****8000``.

What counts:
- an 18-character resident ID number (GB 11643-1999): 17 digits and a check character (a digit
  or X) that is right by ISO 7064 MOD 11-2; 18 digits with a wrong check character are an
  ordinary number and stay;
- a 15-digit (first-generation) ID number: any run of exactly 15 digits;
- a mainland mobile number: 11 digits starting 13–19, optionally written 3-4-4 with spaces or
  hyphens and after +86/0086.
A number counts only as a whole run (not part of a longer run of digits). Amounts, dates and
other numbers stay as written. Full-width digits (what a Chinese keyboard may type) count too.
"""

from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_X = "XxＸｘ"

_PATTERN = re.compile(
    rf"(?<!\d)(?P<id18>\d{{17}}[\d{_X}])(?![\d{_X}])"
    r"|(?<!\d)(?P<id15>\d{15})(?!\d)"
    r"|(?<!\d)(?:(?:\+|＋|00|００)?[8８][6６][-\s]?)?(?P<mobile>[1１][3-9３-９]\d(?:[-\s]?\d{4}){2})(?!\d)"
)


def id_check_char(first17: str) -> str:
    """The GB 11643 check character (0-9 or X) of the first 17 digits of an ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def is_resident_id(text: str) -> bool:
    """True for an 18-character resident ID number whose check character is right, or 15 digits."""
    if len(text) == 15:
        return all(c.isdecimal() for c in text)
    if len(text) != 18 or not all(c.isdecimal() for c in text[:17]):
        return False
    last = text[17]
    want = id_check_char(text[:17])
    return last.upper() in ("X", "Ｘ") if want == "X" else last.isdecimal() and str(int(last)) == want


def _keep(run: str, head: int, tail: int) -> str:
    """Star every digit of ``run`` but the first ``head`` and the last ``tail`` ones (separators stay)."""
    positions = [i for i, c in enumerate(run) if c.isdecimal() or c in _X]
    hidden = set(positions[head:len(positions) - tail])
    return "".join("*" if i in hidden else c for i, c in enumerate(run))


ID_KEEP_HEAD, ID_KEEP_TAIL = 6, 4
"""An ID number keeps its region code (6) and its last four characters; the birth date is hidden."""


def mask_id_number(number: str) -> str:
    """The one masked shape of an ID number: ``310101********1234`` (15 digits: ``310101*****1123``).

    Whatever is passed is masked (a number read off a card with a wrong check character too);
    text too short to hide anything becomes all stars.
    """
    if len(number) <= ID_KEEP_HEAD + ID_KEEP_TAIL:
        return "*" * len(number)
    return _keep(number, ID_KEEP_HEAD, ID_KEEP_TAIL)


def _mask(m: re.Match[str]) -> str:
    if m.group("id18") is not None:
        run = m.group("id18")
        return mask_id_number(run) if is_resident_id(run) else run
    if m.group("id15") is not None:
        return mask_id_number(m.group("id15"))
    whole, start = m.group(0), m.start("mobile") - m.start()
    return whole[:start] + _keep(m.group("mobile"), 3, 4)


def mask_free_text(text: str) -> str:
    """Mask resident ID numbers and mainland mobile numbers in ``text``; leave the rest as written."""
    return _PATTERN.sub(_mask, text)


# --- a delivery address and its recipient (issue 18, helper D2) ---------------------------------

_ADMIN = re.compile(
    r"(?P<province>[^\d\s,，]{1,8}?(?:省|自治区|特别行政区))?"
    r"(?P<city>[^\d\s,，]{1,8}?(?:市|自治州|地区|盟))?"
)
_DISTRICT = re.compile(r"[^\d\s,，]{1,8}?(?:区|县|市|旗)")
_HIDDEN = "****"


def mask_name(name: str) -> str:
    """A person's name with only its first character: ``张*``, ``欧**``, ``J*** *****``."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "".join(c if c.isspace() else "*" for c in name[1:]) if len(name) > 1 else name[0] + "*"


def mask_phone(phone: str) -> str:
    """A phone number with its first three and last four digits: ``138****5678``, ``021****5678``."""
    digits = [c for c in phone if c.isdecimal()]
    if len(digits) < 8:
        return "*" * len(digits)
    return "".join(digits[:3]) + "****" + "".join(digits[-4:])


def mask_address(address: str) -> str:
    """An address down to its district: ``上海市黄浦区****``; nothing of the street, building or room.

    Chinese addresses keep their leading province, city and district (a district only after a
    province or city); other text keeps its last two comma-separated parts (city, country).
    """
    text = "".join(address.split())
    if not text:
        return ""
    m = _ADMIN.match(text)
    kept = m.group(0) if m else ""
    if kept:
        d = _DISTRICT.match(text, len(kept))
        if d:
            kept = text[:d.end()]
        return kept + _HIDDEN
    parts = [p.strip() for p in address.split(",") if p.strip()]
    if len(parts) >= 3 and all(c.isascii() for c in address):
        return _HIDDEN + ", " + ", ".join(parts[-2:])
    return _HIDDEN
