"""A token bucket: ``rate`` tokens a second, at most ``burst`` saved; ``now`` (seconds) is passed in.

The one rate rule behind every budget: a connection's events (signaling/hub.py), its frames and
bytes (signaling/budget.py), and the log lines one client may cause (store/security_log.py).
"""

from __future__ import annotations


class TokenBucket:
    """Starts full; refills continuously; ``take`` spends ``cost`` tokens if that many are saved."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), now

    def level(self, now: float) -> float:
        """The tokens saved at ``now`` (a clock that goes back refills nothing)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def spend(self, cost: float) -> None:
        self.tokens -= cost

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if saved at ``now``; False (nothing spent) otherwise."""
        if self.level(now) >= cost:
            self.spend(cost)
            return True
        return False
