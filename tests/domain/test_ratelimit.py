"""The token bucket every budget uses: starts full, refills at its rate, never past its burst."""

from __future__ import annotations

from window_server.domain.ratelimit import TokenBucket


def test_a_burst_then_the_rate() -> None:
    b = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.take(0.5) and not b.take(0.5)  # 0.5 s at 2/s: one token
    assert b.level(100.0) == 3.0  # never more than the burst


def test_a_cost_is_spent_whole_or_not_at_all() -> None:
    b = TokenBucket(rate=10.0, burst=100, now=0.0)
    assert not b.take(0.0, cost=101)
    assert b.level(0.0) == 100.0
    assert b.take(0.0, cost=60) and not b.take(0.0, cost=60)


def test_a_clock_that_goes_back_refills_nothing() -> None:
    b = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert b.take(10.0)
    assert not b.take(5.0)
