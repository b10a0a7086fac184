"""Specialist presence: who may be offered work, and how presence moves."""

from __future__ import annotations

from enum import StrEnum

from window_server.domain.errors import Conflict


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    OFFERED = "offered"  # an offer is pending
    IN_SERVICE = "in_service"
    WRAP_UP = "wrap_up"
    AWAY = "away"  # on a break


#: What a specialist may switch to by hand.
SETTABLE = frozenset({Presence.AVAILABLE, Presence.AWAY, Presence.WRAP_UP})
#: While in these, a hand switch is refused: the session decides.
BUSY = frozenset({Presence.OFFERED, Presence.IN_SERVICE})
#: Offers in a row left to time out before a specialist is set away.
MISSES_BEFORE_AWAY = 2


class PresenceBusy(Conflict):
    code = "presence_busy"


def check_manual_switch(current: Presence, wanted: Presence) -> None:
    """Raise unless a specialist may switch from ``current`` to ``wanted`` by hand."""
    if wanted not in SETTABLE:
        raise Conflict(f"presence cannot be set to {wanted} by hand", code="invalid_presence", field="status")
    if current in BUSY:
        raise PresenceBusy(f"presence is {current}: finish or decline the session first")


def after_offer_timeout(misses_in_a_row: int) -> Presence:
    """Presence after an offer timed out, given the misses in a row including this one."""
    return Presence.AWAY if misses_in_a_row >= MISSES_BEFORE_AWAY else Presence.AVAILABLE
