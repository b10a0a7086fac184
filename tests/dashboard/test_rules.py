"""The dashboard's pure rules, table-driven and without a loop."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.dashboard.conftest import TZ
from window_server.dashboard.rules import (
    CHAIN,
    COUNTS,
    FoldConfig,
    Record,
    ReviewPolicy,
    add,
    bucket,
    by_group,
    cells,
    check_step,
    csv_cell,
    day_range,
    decode,
    derive,
    diff,
    encode,
    mask_digits,
    next_due,
    parse_review_policy,
    regroup,
    review_fields,
    review_status,
)
from window_server.domain.errors import Conflict, InvalidInput

CFG = FoldConfig(t_answer_s=60, s_short_s=10, wait_alarm_s=300, handle_alarm_s=1800)
T0 = 1_772_413_200_000  # 2026-03-02 09:00 in Shanghai


@pytest.mark.parametrize(("text", "masked"), [
    ("330106199001011234", "330106********1234"),
    ("ID 33010619900101123X ok", "ID 330106********123X ok"),
    ("电话13812345678", "电话138****5678"),
    ("postcode 200001", "postcode 2***01"),
    ("12345 is short", "12345 is short"),
    ("３３０１０６１９９００１０１１２３４", "３３０１０６********１２３４"),  # full-width digits too
    ("", ""),
])
def test_digit_runs_are_masked(text: str, masked: str) -> None:
    assert mask_digits(text) == masked


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("plain", "plain"),
    (None, ""), (3, "3"),
])
def test_csv_cells_never_start_a_formula(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def ev(act: str, ts_s: float, **fields: str) -> tuple[str, dict[str, str]]:
    ts = T0 + int(ts_s * 1000)
    return f"{ts}-0", {"sid": "S", "act": act, "ts": str(ts), **fields}


DAY_LOG = [
    ev("enqueue", 0, intake="a", matter="m", to="waiting"),
    ev("offer", 10, to="offered"),
    ev("accept", 30, agent="x", agent_centre="b", to="in_service"),
    ev("complete", 330, agent="x", to="completed"),
    ev("wrap_end", 360, aid="x"),
    ev("rate", 340, level="2", to="rated"),
]


def test_derive_refolds_in_log_order_whatever_order_it_is_given() -> None:
    one = derive(DAY_LOG)
    two = derive(list(reversed(DAY_LOG)))
    assert one == two and one is not None
    assert (one.facts.answered, one.facts.wrap, one.facts.level, one.state) == (T0 + 30_000, T0 + 360_000, 2, "rated")
    assert one.rated_at == T0 + 340_000
    assert derive(DAY_LOG[1:]) is None  # no enqueue: nothing to count


def test_a_first_answer_moves_the_session_into_its_serving_centre() -> None:
    before = derive(DAY_LOG[:2])
    after = derive(DAY_LOG[:3])
    changes = diff(cells(before, CFG, TZ), cells(after, CFG, TZ))
    scopes = {scope for (_d, scope, _dim, _g) in changes}
    assert scopes == {CHAIN, "a", "b"}
    assert changes[("20260302", "b", "total", "")] == cells(after, CFG, TZ)[("20260302", "b", "total", "")]
    assert changes[("20260302", CHAIN, "pair", "a→")][COUNTS.index("tickets")] == -1
    assert changes[("20260302", CHAIN, "pair", "a→b")][COUNTS.index("served")] == 1
    assert changes[("20260302", "a", "wq", "0900")] == (0, 1)  # stopped waiting at 09:00:30


def test_vectors_round_trip_and_add_up() -> None:
    assert encode((1, 0, 2, 0, 0)) == "1,0,2" and decode("1,0,2") == (1, 0, 2) and decode("") == ()
    assert add((1, 2), (1, 1, 1)) == (2, 3, 1) and add((1, 2), (1, 2), -1) == (0, 0)
    assert by_group([{"g": "1,2"}, {"g": "1", "h": "0,5"}], ("a", "b")) == {"g": {"a": 2, "b": 2}, "h": {"b": 5}}
    pairs = {"a→b": {"tickets": 1}, "a→": {"tickets": 2}, "c→b": {"tickets": 4}}
    assert regroup(pairs, "intake") == {"a": {"tickets": 3}, "c": {"tickets": 4}}
    assert regroup(pairs, "serving") == {"b": {"tickets": 5}, "": {"tickets": 2}}


def test_a_record_survives_its_json() -> None:
    view = derive(DAY_LOG)
    rec = Record(view, CFG, "x-1", [DAY_LOG[4]])
    again = Record.load(rec.dump())
    assert again.view == view and again.cfg == CFG and again.wraps == [DAY_LOG[4]]


def test_buckets_and_day_ranges() -> None:
    assert bucket(T0 + 14 * 60_000 + 59_000, TZ) == "0900" and bucket(T0 + 15 * 60_000, TZ) == "0915"
    assert day_range(date(2026, 2, 27), date(2026, 3, 1)) == ["20260227", "20260228", "20260301"]
    with pytest.raises(InvalidInput):
        day_range(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(InvalidInput):
        day_range(date(2025, 1, 1), date(2026, 3, 1))


def test_review_deadlines_status_and_order() -> None:
    policy = parse_review_policy(
        {"default": {"call_back_days": 1, "rectify_days": 15, "reply_days": 15},
         "provinces": {"330000": {"name": "浙江省", "call_back_days": 1, "rectify_days": 10, "reply_days": 12}}},
        "t.toml",
    )
    view = derive(DAY_LOG)
    assert view is not None
    rev = review_fields(view, "330000", "x", policy)
    rated = T0 + 340_000
    assert int(rev["due_called_back"]) == rated + 86_400_000 and int(rev["due_replied"]) == rated + 12 * 86_400_000
    assert int(review_fields(view, "310000", "x", policy)["due_rectified"]) == rated + 15 * 86_400_000
    assert next_due(rev) == rated + 86_400_000
    assert review_status(rev, rated)["status"] == "open"
    assert review_status(rev, rated + 2 * 86_400_000)["status"] == "overdue"
    with pytest.raises(Conflict, match="called back first"):
        check_step(rev, "rectified", "整改了")
    done = {**rev, "done_called_back": str(rated + 1000)}
    check_step(done, "rectified", "整改了")
    with pytest.raises(InvalidInput) as err:  # what was done is required to move on (issue 19)
        check_step(done, "rectified", "  ")
    assert (err.value.code, err.value.field) == ("note_required", "note")
    with pytest.raises(Conflict):
        check_step(done, "called_back", "again")
    closed = {**done, "done_rectified": "1", "done_replied": "2"}
    assert next_due(closed) is None and review_status(closed, rated * 2)["status"] == "closed"
    assert ReviewPolicy().deadlines("999999").rectify_days == 15
