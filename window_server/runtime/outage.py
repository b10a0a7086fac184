"""Whether this node saw Redis fail since the queue last forgave the heartbeats it missed.

Heartbeats that could not be written while Redis was down must not count as lost presence, and
a clock gap cannot tell an outage from a party that went silent (tests move the clock by hand).
So it is said explicitly: every Redis call of the node's background loops that fails (the
ticker, the heartbeat loop) marks an outage here. Once Redis answers again, the ticker has the
hub re-assert this node's connected parties, then runs one forgiving tick (``rw_tick`` with
``forgive``), and only then is the outage over.
"""

from __future__ import annotations

import asyncio


class Outage:
    """Outages seen and healed by one node (tests await ``down`` and ``healed``)."""

    def __init__(self) -> None:
        self.seen_count = 0  # failures seen; a recovery heals only those it saw begin
        self.healed_count = 0
        self.down = asyncio.Event()  # set from the first failure until the outage is healed
        self.healed = asyncio.Event()  # set once a forgiving tick has run after the last failure
        self.healed.set()

    @property
    def pending(self) -> bool:
        """Whether a failure was seen that no forgiving tick has followed yet."""
        return self.seen_count != self.healed_count

    def seen(self) -> bool:
        """Mark a failed Redis call; True if it begins an outage (log it once, not every retry)."""
        began = not self.pending
        self.seen_count += 1
        self.down.set()
        self.healed.clear()
        return began

    def heal(self, upto: int) -> bool:
        """A forgiving tick ran after failure number ``upto``; True if no later one is pending."""
        self.healed_count = max(self.healed_count, upto)
        if self.pending:
            return False
        self.down.clear()
        self.healed.set()
        return True
