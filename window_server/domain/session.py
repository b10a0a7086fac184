"""The session lifecycle: states, actions and the one transition table.

The Redis functions (``window_server/queue/lua/``) receive this very table, the states, the
actions and the held, final and ended sets when they are loaded, so Python and Lua can never
disagree on what is legal.

    waiting --offer--> offered --accept--> in_service --complete--> completed --rate--> rated
    offered --decline / offer_timeout / offer_lost--> waiting        (keeps its place)
    in_service --transfer--> transferring --transfer_accept--> in_service (new specialist)
    transferring --transfer_decline / transfer_timeout--> in_service (the first specialist)
    in_service | transferring --media_lost--> reconnecting
    reconnecting --media_back--> in_service
    reconnecting --requeue--> waiting (the specialist did not come back: head of the queue)
    reconnecting --interrupt--> interrupted (the booth did not come back)
    waiting | offered --leave--> abandoned
    waiting | offered | in_service --no_show--> no_show (called, but nobody at the booth)
    in_service | transferring | reconnecting --hang_up--> completed (the citizen ended the call at the
        booth: outcome ''; a transfer in flight ends with it, the specialist goes to wrap-up as after complete)

A completed session may be rated for the rating window (``QueueTiming.rating_ms``); when that
closes unrated it stays completed but is no longer active (``close_rating`` in ``queue/lua/rating.lua``).
"""

from __future__ import annotations

from enum import StrEnum

from window_server.domain.errors import Conflict


class State(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    IN_SERVICE = "in_service"
    TRANSFERRING = "transferring"
    RECONNECTING = "reconnecting"
    COMPLETED = "completed"
    RATED = "rated"
    ABANDONED = "abandoned"
    NO_SHOW = "no_show"
    INTERRUPTED = "interrupted"


class Action(StrEnum):
    ENQUEUE = "enqueue"
    OFFER = "offer"
    ACCEPT = "accept"
    DECLINE = "decline"
    OFFER_TIMEOUT = "offer_timeout"
    OFFER_LOST = "offer_lost"
    TRANSFER = "transfer"
    TRANSFER_ACCEPT = "transfer_accept"
    TRANSFER_DECLINE = "transfer_decline"
    TRANSFER_TIMEOUT = "transfer_timeout"
    MEDIA_LOST = "media_lost"
    MEDIA_BACK = "media_back"
    REQUEUE = "requeue"
    INTERRUPT = "interrupt"
    COMPLETE = "complete"
    RATE = "rate"
    LEAVE = "leave"
    NO_SHOW = "no_show"
    HANG_UP = "hang_up"  # the citizen ends the call at the booth (结束通话)


class Priority(StrEnum):
    """The priority lane (绿色通道): served before everyone else who waits."""

    NONE = ""
    ELDERLY = "elderly"
    DISABLED = "disabled"
    PREGNANT = "pregnant"


class TicketSource(StrEnum):
    WALK_IN = "walk_in"
    QR = "qr"
    APPOINTMENT = "appointment"
    MOBILE = "mobile"
    VIDEO_CONSULT = "video_consult"


class Outcome(StrEnum):
    CONSULTATION = "consultation"  # 咨询办结
    INTAKE = "intake"  # 材料收件 / 受理
    NEEDS_SUPPLEMENT = "needs_supplement"  # 补正
    POSTAL_DELIVERY = "postal_delivery"  # 寄递
    NOT_ELIGIBLE = "not_eligible"  # 不予受理: the matter cannot be done here


class TransferMode(StrEnum):
    WARM = "warm"  # the first specialist stays in the call until the new one accepts
    COLD = "cold"  # the first specialist leaves the call at once, held in reserve until it resolves


S, A = State, Action
TRANSITIONS: dict[tuple[State | None, Action], State] = {
    (None, A.ENQUEUE): S.WAITING,
    (S.WAITING, A.OFFER): S.OFFERED,
    (S.OFFERED, A.ACCEPT): S.IN_SERVICE,
    (S.OFFERED, A.DECLINE): S.WAITING,
    (S.OFFERED, A.OFFER_TIMEOUT): S.WAITING,
    (S.OFFERED, A.OFFER_LOST): S.WAITING,
    (S.IN_SERVICE, A.TRANSFER): S.TRANSFERRING,
    (S.TRANSFERRING, A.TRANSFER_ACCEPT): S.IN_SERVICE,
    (S.TRANSFERRING, A.TRANSFER_DECLINE): S.IN_SERVICE,
    (S.TRANSFERRING, A.TRANSFER_TIMEOUT): S.IN_SERVICE,
    (S.IN_SERVICE, A.MEDIA_LOST): S.RECONNECTING,
    (S.TRANSFERRING, A.MEDIA_LOST): S.RECONNECTING,
    (S.RECONNECTING, A.MEDIA_BACK): S.IN_SERVICE,
    (S.RECONNECTING, A.REQUEUE): S.WAITING,
    (S.RECONNECTING, A.INTERRUPT): S.INTERRUPTED,
    (S.IN_SERVICE, A.COMPLETE): S.COMPLETED,
    (S.COMPLETED, A.RATE): S.RATED,
    (S.WAITING, A.LEAVE): S.ABANDONED,
    (S.OFFERED, A.LEAVE): S.ABANDONED,
    (S.WAITING, A.NO_SHOW): S.NO_SHOW,
    (S.OFFERED, A.NO_SHOW): S.NO_SHOW,
    (S.IN_SERVICE, A.NO_SHOW): S.NO_SHOW,
    (S.IN_SERVICE, A.HANG_UP): S.COMPLETED,
    (S.TRANSFERRING, A.HANG_UP): S.COMPLETED,
    (S.RECONNECTING, A.HANG_UP): S.COMPLETED,
}
del S, A

#: States from which nothing but reading happens any more (completed still awaits a rating):
#: the session leaves the active set.
FINAL_STATES = frozenset({State.RATED, State.ABANDONED, State.NO_SHOW, State.INTERRUPTED})
#: States in which the session has ended for the specialist; in any other, its booth has it open
#: and may not start another (``booth_busy``).
ENDED_STATES = FINAL_STATES | {State.COMPLETED}
#: States in which a specialist holds the session and may add notes, materials, verdicts.
HELD_STATES = frozenset({State.IN_SERVICE, State.TRANSFERRING, State.RECONNECTING})

#: The languages a citizen may ask to be served in.
LANGUAGES: tuple[str, ...] = ("zh", "en")
#: Length limits of a session's words, one per field: the protocol's door and the queue service read these.
MAX_REASON = 500  # a leave, decline, transfer or no-show reason; a rating's comment
MAX_NOTE = 4000
MAX_CASE_NUMBER = 64
MAX_TARGET = 64  # a transfer's to_agent (a username) or to_centre (a centre id)
#: The national five-level rating scale (好差评): 5 非常满意 … 1 非常不满意.
RATING_LEVELS = range(1, 6)


class IllegalTransition(Conflict):
    """The action is not allowed from the session's current state."""

    code = "illegal_transition"

    def __init__(self, state: State | None, action: Action, sid: str = "") -> None:
        where = f"session {sid} " if sid else "the session "
        super().__init__(f"{where}is {state or 'new'}: cannot {action.value.replace('_', ' ')}")
        self.state = state
        self.action = action


def next_state(state: State | None, action: Action, sid: str = "") -> State:
    """Return the state after ``action``, or raise IllegalTransition naming the current state."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state, action, sid) from None


def transitions_table() -> dict[str, dict[str, str]]:
    """The table as {from: {action: to}} with "" for a new session: what the Lua side loads."""
    table: dict[str, dict[str, str]] = {}
    for (src, action), dst in TRANSITIONS.items():
        table.setdefault(src.value if src else "", {})[action.value] = dst.value
    return table
