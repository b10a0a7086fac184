"""Presence rules as the queue's Redis functions apply them (``rw_presence``, ``offer_refused``).

Their home is the Lua: a hand switch must be refused atomically with the session and reserve
slots it reads. ``window_server/domain/presence.py`` keeps the tables: the statuses, those a
specialist may ask for (checked at the door), the busy ones and the misses constant Lua is
handed. This is the rule over them, as the Lua applies it.
"""

from __future__ import annotations

from window_server.domain.presence import BUSY_STATUSES, MISSES_BEFORE_AWAY, Presence


def manual_switch_refusal(status: Presence, *, session: str = "", reserve: str = "") -> str | None:
    """The error code ``rw_presence`` answers a hand switch with, or None if it is allowed.

    ``session``: the session the specialist holds (kept while their console is gone, until the
    grace decides); ``reserve``: a session they handed on that may still come back (a transfer
    in flight). Busy is checked first: an offline specialist still holding a session is busy.
    """
    if status in BUSY_STATUSES or reserve or session:
        return "presence_busy"
    if status is Presence.OFFLINE:
        return "signed_out"
    return None


def after_offer_timeout(misses_in_a_row: int) -> Presence:
    """Presence after an offer timed out, given the misses in a row including this one."""
    return Presence.AWAY if misses_in_a_row >= MISSES_BEFORE_AWAY else Presence.AVAILABLE
