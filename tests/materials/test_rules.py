"""The pure rules of materials: kinds, verdicts, advice, who may add and see. No loop, no I/O."""

from __future__ import annotations

import pytest

from window_server.app import quality_thresholds
from window_server.documents.quality import QualityThresholds, Reason
from window_server.domain import materials as M
from window_server.domain.auth import Principal, Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import InvalidInput
from window_server.settings import build_settings


def test_every_reason_has_advice_in_both_languages() -> None:
    assert set(M.AUTO_REASONS) == {r.value for r in Reason}  # the check's codes, pinned
    for code in (*M.AUTO_REASONS, *M.VERDICT_REASONS, M.CAPTURED, M.ACCEPTED):
        advice = M.ADVICE[code]
        assert advice.zh and advice.en and not advice.zh.isascii(), code
    assert M.ADVICE["cut_off"].zh == "请将证件完整放入框内"
    assert M.ADVICE["cut_off"].en == "Please place the whole document inside the frame."
    assert M.ADVICE["glare"].zh == "请避开反光，稍微倾斜证件"


@pytest.mark.parametrize(("verdict", "reasons", "expect"), [
    ("accepted", [], [M.CAPTURED]),
    ("rejected", ["cut_off"], ["cut_off"]),
    ("rejected", ["blur", "glare", "blur"], ["blur", "glare"]),
    ("rejected", ["no_document", "too_dark"], ["no_document", "too_dark"]),
])
def test_advice_after_the_check(verdict: str, reasons: list[str], expect: list[str]) -> None:
    advice = M.advice_for_check(verdict, reasons)
    assert advice.zh == "；".join(M.ADVICE[c].zh for c in expect)
    assert advice.en == " ".join(M.ADVICE[c].en for c in expect)


@pytest.mark.parametrize(("verdict", "reason", "expect"), [
    ("accepted", "", M.ACCEPTED), ("accepted", "looks fine", M.ACCEPTED),
    ("rejected", "glare", "glare"), ("rejected", "expired", "expired"),
    ("rejected", "", "other"), ("rejected", "请出示原件", "other"),
])
def test_advice_after_the_verdict(verdict: str, reason: str, expect: str) -> None:
    assert M.advice_for_verdict(verdict, reason) == M.ADVICE[expect]


def test_verdicts_and_reasons_are_checked() -> None:
    assert M.check_verdict("rejected", "  glare ") == ("rejected", "glare")
    assert M.check_verdict("accepted", None) == ("accepted", "")
    assert M.check_verdict("rejected", "x" * 200)[1] == "x" * 200
    for verdict, reason in (("maybe", ""), ("rejected", "x" * 201), ("rejected", 3), ("rejected", "a\nb")):
        with pytest.raises(InvalidInput):
            M.check_verdict(verdict, reason)


def test_kinds_come_from_the_matter(catalogue: Catalogue) -> None:
    matter = catalogue.matters[0]
    for m in matter.materials:
        assert M.check_kind(matter, m.kind) == m.kind
    assert M.check_kind(matter, "other") == "other"
    for bad in ("passport_of_mars", "", "ID_CARD", "../x", 3, "a" * 65):
        with pytest.raises(InvalidInput):
            M.check_kind(matter, bad)


PARTIES = M.SessionParties(sid="RW1", state="in_service", booth="b1", agent="s2", served=("s1", "s2"),
                           intake_centre="c-intake", serving_centres=("c-home", "c-partner"))


def _p(role: Role, subject: str, centre: str = "c-x") -> Principal:
    return Principal(role=role, subject=subject, centre=centre)


@pytest.mark.parametrize(("principal", "add", "view"), [
    (_p(Role.DEVICE, "b1"), True, True),
    (_p(Role.BOOTH, "b1"), True, True),
    (_p(Role.DEVICE, "b2"), False, False),
    (_p(Role.SPECIALIST, "s2"), True, True),  # holds it now
    (_p(Role.SPECIALIST, "s1"), False, True),  # served it before a transfer
    (_p(Role.SPECIALIST, "s3", "c-home"), False, False),  # same centre is not enough for a specialist
    (_p(Role.TEAM_LEAD, "s2"), True, True),
    (_p(Role.TEAM_LEAD, "lead", "c-home"), False, True),
    (_p(Role.MANAGER, "mgr", "c-intake"), False, True),
    (_p(Role.MANAGER, "mgr", "c-partner"), False, True),
    (_p(Role.MANAGER, "mgr", "c-elsewhere"), False, False),
    (_p(Role.CHAIN_MANAGER, "chain", ""), False, True),
])
def test_who_may_add_and_view(principal: Principal, add: bool, view: bool) -> None:
    assert M.may_add(principal, PARTIES) is add
    assert M.may_view(principal, PARTIES) is view


def test_nobody_adds_as_the_specialist_of_an_unheld_session() -> None:
    waiting = M.SessionParties("RW2", "waiting", "b1", "", (), "c-intake", ())
    assert not M.may_add(_p(Role.SPECIALIST, ""), waiting)


def test_threshold_settings_default_to_the_checks_defaults_and_reach_them() -> None:
    assert quality_thresholds(build_settings({})) == QualityThresholds()
    s = build_settings({"RW_MIN_SHARPNESS": "0.25", "RW_MAX_GLARE": "0.02", "RW_MIN_BRIGHTNESS": "0.3",
                        "RW_MIN_COVERAGE": "0.04", "RW_BORDER_MARGIN": "0.001"})
    assert quality_thresholds(s) == QualityThresholds(0.25, 0.02, 0.3, 0.04, 0.001)
