"""The pure rules of recognition: reasons and verdict, the automatic verdict, the ID sides, who sees
a card unmasked. No loop, no I/O."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from window_server.domain import recognition as R
from window_server.domain.auth import Principal, Role
from window_server.domain.materials import SessionParties


@pytest.mark.parametrize(("quality", "more", "reasons", "verdict"), [
    ([], [[], []], [], "accepted"),
    ([], [["wrong_kind"], []], ["wrong_kind"], "rejected"),
    (["glare"], [["wrong_kind", "expired"], ["sides_mismatch"]], ["glare", "wrong_kind", "expired",
                                                                  "sides_mismatch"], "rejected"),
    (["blur"], [["blur"], []], ["blur"], "rejected"),  # each reason once
])
def test_reasons_join_and_any_rejects(quality: list[str], more: list[list[str]], reasons: list[str],
                                      verdict: str) -> None:
    assert R.with_reasons(quality, *more) == (reasons, verdict)


@pytest.mark.parametrize(("record", "auto"), [
    ({"class": None, "verdict": "accepted"}, "pending"),
    ({"class": None, "verdict": "rejected"}, "pending"),
    ({"class": "page", "verdict": "rejected"}, "rejected"),
    ({"class": "unknown", "verdict": "accepted"}, "accepted"),
    ({"verdict": "accepted"}, "accepted"),  # a record from before recognition
])
def test_the_automatic_verdict_a_console_shows(record: dict[str, Any], auto: str) -> None:
    assert R.automatic_verdict(record) == auto


BIRTH = date(1990, 5, 17)
FRONT = {"birth_date": BIRTH.isoformat()}
MISFIT = {"valid_from": "2016-03-01", "valid_until": "2036-03-01"}  # issued at 25: 10 years, not 20
ADULT = {"valid_from": "2020-03-01", "valid_until": "2040-03-01"}  # issued at 29: 20 years
LONG = {"valid_from": "2040-06-01", "valid_until": "长期"}  # issued at 50: 长期


def _rec(mid: str, cls: str | None, at: int, review: str | None = None) -> dict[str, Any]:
    return {"id": mid, "class": cls, "at": at, "review": {"verdict": review} if review else None}


@pytest.mark.parametrize(("cls", "reading", "records", "readings", "expect"), [
    ("id_card_back", ADULT, [_rec("f", "id_card_front", 1)], {"f": FRONT}, "match"),
    ("id_card_back", LONG, [_rec("f", "id_card_front", 1)], {"f": FRONT}, "match"),
    ("id_card_back", MISFIT, [_rec("f", "id_card_front", 1)], {"f": FRONT}, "mismatch"),
    ("id_card_front", FRONT, [_rec("b", "id_card_back", 1)], {"b": ADULT}, "match"),  # either order
    ("id_card_front", FRONT, [_rec("b", "id_card_back", 1)], {"b": MISFIT}, "mismatch"),
    # the latest back counts, unless the specialist rejected it
    ("id_card_front", FRONT, [_rec("b1", "id_card_back", 1), _rec("b2", "id_card_back", 2)],
     {"b1": ADULT, "b2": MISFIT}, "mismatch"),
    ("id_card_front", FRONT, [_rec("b1", "id_card_back", 1), _rec("b2", "id_card_back", 2, "rejected")],
     {"b1": ADULT, "b2": MISFIT}, "match"),
    # nothing to judge: no other side, it is pending, nothing read, not an ID side
    ("id_card_back", ADULT, [], {}, None),
    ("id_card_back", ADULT, [_rec("f", None, 1)], {}, None),
    ("id_card_back", ADULT, [_rec("f", "id_card_front", 1)], {}, None),
    ("id_card_back", {"valid_from": None, "valid_until": None}, [_rec("f", "id_card_front", 1)], {"f": FRONT}, None),
    ("page", ADULT, [_rec("f", "id_card_front", 1)], {"f": FRONT}, None),
    ("id_card_back", None, [_rec("f", "id_card_front", 1)], {"f": FRONT}, None),
])
def test_the_two_sides_of_one_card(cls: str, reading: dict[str, Any] | None, records: list[dict[str, Any]],
                                   readings: dict[str, dict[str, Any]], expect: str | None) -> None:
    mine = _rec("me", None, 9)
    assert R.sides("me", cls, reading, [*records, mine], readings) == expect


PARTIES = SessionParties(sid="RW1", state="in_service", booth="b1", agent="spec-2", served=("spec-1", "spec-2"),
                         intake_centre="c1", serving_centres=("c2",))


@pytest.mark.parametrize(("who", "state", "sees"), [
    (Principal(Role.SPECIALIST, "spec-2", "c2"), "in_service", True),
    (Principal(Role.SPECIALIST, "spec-2", "c2"), "reconnecting", True),
    (Principal(Role.SPECIALIST, "spec-2", "c2"), "completed", False),  # served, but no longer holding it
    (Principal(Role.SPECIALIST, "spec-1", "c2"), "in_service", False),  # before the transfer
    (Principal(Role.MANAGER, "mgr", "c2"), "in_service", False),
    (Principal(Role.CHAIN_MANAGER, "chain", ""), "in_service", False),
    (Principal(Role.BOOTH, "b1", "c1"), "in_service", False),
    (Principal(Role.DEVICE, "spec-2", "c1"), "in_service", False),  # a booth named like the specialist
])
def test_only_the_specialist_holding_the_session_sees_a_card_unmasked(who: Principal, state: str,
                                                                     sees: bool) -> None:
    parties = dataclasses.replace(PARTIES, state=state)
    assert R.sees_unmasked(who, parties) is sees
