"""What the recognition of a still changes, and who sees what it read.

Pure: no I/O, no clock. The document workers say what a still is (``documents/recognise.py``);
these rules decide what that means for the session's record, so the server, its Redis
functions and the tests agree:

- the record's reasons and verdict once the recognition is in (any reason rejects);
- whether an ID card's two sides captured in one session belong together (the side recognised
  second is the one flagged ``sides_mismatch``);
- which still may serve as the identity check's ID photo;
- who sees a still unmasked and the fields read off a card: the specialist holding the
  session while it is held, and nobody else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from window_server.domain.auth import Principal, can_serve
from window_server.domain.idcard import LONG_TERM, sides_belong
from window_server.domain.materials import HELD, SessionParties, is_booth_side

PENDING = "pending"
"""The automatic verdict of a still whose recognition has not landed (its ``class`` is null)."""

SEEN_VERDICTS: tuple[str, ...] = ("accepted", "rejected", PENDING)
"""What a console may say it showed as the automatic verdict when the specialist judged."""

ID_FRONT, ID_BACK = "id_card_front", "id_card_back"

ID_PHOTO_KIND = ID_FRONT
"""The identity check's ID photo must be a still filed as this kind…"""

ID_PHOTO_CLASSES: tuple[str, ...] = (ID_FRONT, "unknown")
"""…recognised as one of these (``unknown``: the specialist decides), and accepted by the specialist
(``rw_material_id_photo`` checks it in Redis with these two tables)."""

ID_FIELDS: tuple[str, ...] = ("id_number", "name", "sex", "birth_date", "valid_from", "valid_until", "issuer")
"""What ``GET …/id-fields`` answers: the card's fields as read (null where unread)."""

SIDES_MISMATCH = "sides_mismatch"

MASKED_HEADER = "X-RW-Masked"
"""The HTTP answer header (value ``1``) of a still or PDF served with the ID number and photo blacked out."""


def with_reasons(reasons: Iterable[str], *more: Iterable[str]) -> tuple[list[str], str]:
    """The still's reasons (each once, in order) and its verdict: any reason rejects."""
    merged = list(dict.fromkeys([*reasons, *(r for extra in more for r in extra)]))
    return merged, "rejected" if merged else "accepted"


def automatic_verdict(record: Mapping[str, Any]) -> str:
    """The automatic verdict a console shows: ``pending`` while the class is null."""
    if "class" in record and record["class"] is None:
        return PENDING
    return str(record["verdict"])


def sides(
    material_id: str,
    cls: str,
    reading: Mapping[str, Any] | None,
    records: Iterable[Mapping[str, Any]],
    readings: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """``match``/``mismatch`` of an ID side just recognised against the other side of the session.

    The other side is the latest still recognised as it that the specialist did not reject;
    ``reading`` and ``readings`` are the private fields read (``Recognition.private()``).
    None: not an ID side, no other side yet, or the text does not allow a judgement.
    """
    if cls not in (ID_FRONT, ID_BACK) or reading is None:
        return None
    other_cls = ID_BACK if cls == ID_FRONT else ID_FRONT
    others = [r for r in records if r["id"] != material_id and r.get("class") == other_cls
              and (r.get("review") or {}).get("verdict") != "rejected"]
    if not others:
        return None
    other = max(others, key=lambda r: (r.get("at", 0), r["id"]))
    theirs = readings.get(other["id"])
    if theirs is None:
        return None
    front, back = (reading, theirs) if cls == ID_FRONT else (theirs, reading)
    belong = sides_belong(_date(front.get("birth_date")), _date(back.get("valid_from")),
                          _until(back.get("valid_until")))
    return None if belong is None else "match" if belong else "mismatch"


def sees_unmasked(principal: Principal, parties: SessionParties) -> bool:
    """Only the specialist holding the session, while it is held, sees stills unmasked and the
    fields read off an ID card; earlier specialists, managers and the booth see them masked."""
    return (not is_booth_side(principal) and can_serve(principal) and parties.agent != ""
            and principal.subject == parties.agent and parties.state in HELD)


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _until(value: Any) -> date | str | None:
    return LONG_TERM if value == LONG_TERM else _date(value)
