"""Specialist presence: the statuses, which a specialist may ask for by hand, which are busy.

How presence moves (a hand switch refused while an offer, a session or a transfer in reserve is
held; away after ``MISSES_BEFORE_AWAY`` unanswered offers; wrap-up and its timer) is decided in
the queue's Redis functions, atomically with the session it depends on: that is the rules' one
home. Their plain model, checked against real Redis, is ``tests/oracle/presence.py``.
"""

from __future__ import annotations

from enum import StrEnum


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    OFFERED = "offered"  # an offer is pending
    IN_SERVICE = "in_service"
    WRAP_UP = "wrap_up"
    AWAY = "away"  # on a break


#: What a specialist may switch to by hand (validated at the door, before the queue is asked).
SETTABLE = frozenset({Presence.AVAILABLE, Presence.AWAY, Presence.WRAP_UP})
#: Statuses a hand switch may not leave: the offer or session decides (handed to the Lua, which
#: also refuses while a session or a transfer in reserve is held, whatever the status).
BUSY_STATUSES = frozenset({Presence.OFFERED, Presence.IN_SERVICE})
#: Offers in a row left to time out before a specialist is set away (handed to the Lua).
MISSES_BEFORE_AWAY = 2
