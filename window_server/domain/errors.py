"""The exception tree and the one registry of error codes a client can see.

HTTP turns these into ``{"error": {"code", "message", "field"?}}`` with ``http_status``;
socket.io turns them into an error ack with the same body. Codes never change once shipped.

``CODES`` registers every code of the socket.io protocol and of the queue's Redis functions
once: its exception class (hence its HTTP status), the payload field it names, its meaning.
``signaling/protocol.py`` documents them from here, ``queue/store.py`` maps the Lua ``fail()``
codes through it, and a test fails when a handler or a Lua function uses a code not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


class RemoteWindowError(Exception):
    """Base of every error with a stable code that may be shown to a client."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.field = field

    def to_payload(self) -> dict[str, Any]:
        """Return the one error shape shared by HTTP and socket.io."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class InvalidInput(RemoteWindowError):
    """The request is malformed or a field fails validation."""

    code = "invalid_input"
    http_status = 400


class Unauthenticated(RemoteWindowError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(RemoteWindowError):
    code = "forbidden"
    http_status = 403


class NotFound(RemoteWindowError):
    code = "not_found"
    http_status = 404


class Conflict(RemoteWindowError):
    """The request is well formed but the current state does not allow it."""

    code = "conflict"
    http_status = 409


class TooLarge(RemoteWindowError):
    code = "too_large"
    http_status = 413


class UnsupportedMedia(RemoteWindowError):
    code = "unsupported_media_type"
    http_status = 415


class RateLimited(RemoteWindowError):
    code = "rate_limited"
    http_status = 429


class Unavailable(RemoteWindowError):
    """A backing service (Redis, the process pool) does not answer."""

    code = "unavailable"
    http_status = 503


class StorageFull(RemoteWindowError):
    """The blob directory is full (ENOSPC/EDQUOT): nothing was stored (issue 20, helper H5)."""

    code = "storage_full"
    http_status = 507


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """One registered error code: the class raised for it (its HTTP status) and what it means."""

    code: str
    error: type[RemoteWindowError]
    meaning: str
    field: str | None = None  # the payload field a Redis function's failure names
    connect: bool = False  # a connect refusal (connect_error data.code), not an event's answer

    @property
    def http_status(self) -> int:
        return self.error.http_status


_C = Code
_REGISTRY: Final = (
    # every event, at the door or in the transport
    _C("invalid_input", InvalidInput, "the payload is malformed or a field is invalid (see field)"),
    _C("payload_too_large", TooLarge, "the payload is larger than the event allows"),
    _C("unknown_event", NotFound, "no such event in this namespace"),
    _C("rate_limited", RateLimited, "too many messages; slow down (repeat offenders are disconnected)"),
    _C("unavailable", Unavailable, "the queue store does not answer; try again"),
    _C("internal_error", RemoteWindowError, "something went wrong on the server; it is logged"),
    # connect refusals (connect_error data.code)
    _C("unauthenticated", Unauthenticated, "no valid connect token", connect=True),
    _C("forbidden", Forbidden, "your role may not do this", connect=True),
    _C("invalid_token", Unauthenticated, "the connect token is malformed, forged or for another server",
       connect=True),
    _C("token_expired", Unauthenticated, "the connect token's lifetime is over; fetch a new one", connect=True),
    _C("wrong_namespace", Forbidden,
       "the connect token is for another namespace, or the role may not open this one", connect=True),
    _C("token_used", Unauthenticated,
       "the connect token was used already: tokens are single use, fetch one per connect", connect=True),
    _C("token_revoked", Unauthenticated, "the account or login was revoked after the token was issued "
       "(disable, password change, booth revoke, logout)", connect=True),
    _C("unknown_account", Unauthenticated, "the connect token names no such user or booth (in that role and centre)",
       connect=True),
    _C("account_disabled", Forbidden, "the account is disabled (or a demo account outside demo mode)", connect=True),
    _C("cross_origin", Forbidden, "a page of another site (its Origin) may not do this; socket.io's handshake "
       "answers it as an HTTP 403 with this error body"),
    # sessions and members
    _C("not_member", Forbidden, "you are not a member of that session"),
    _C("peer_absent", Conflict, "the other party is not connected"),
    _C("unknown_session", NotFound, "no such session"),
    _C("unknown_matter", NotFound, "no such matter in the catalogue"),
    _C("unknown_centre", NotFound, "no such centre in the chain"),
    _C("unknown_agent", NotFound, "no such specialist signed in"),
    _C("illegal_transition", Conflict, "the session's state does not allow this (the message names the state)"),
    _C("booth_busy", Conflict, "this booth already has an open session"),
    _C("consent_required", InvalidInput, "the recording notice must be accepted first"),
    _C("not_your_offer", Forbidden, "no offer of that session is yours: it is offered to, or held by, someone else"),
    _C("offer_expired", Conflict, "your offer of that session ran out or was withdrawn"),
    _C("not_your_session", Forbidden, "the session is not yours"),
    _C("presence_busy", Conflict, "presence cannot change while an offer or session is held"),
    _C("signed_out", Conflict, "the specialist is signed out"),
    _C("reason_required", InvalidInput, "a reason is required", field="reason"),
    _C("text_required", InvalidInput, "the note is empty"),
    _C("no_centre_serves", Conflict, "no centre serves the matter's home region now"),
    _C("invalid_target", InvalidInput, "name exactly one valid transfer target", field="to_agent"),
    _C("target_unavailable", Conflict, "the transfer target is not available", field="to_agent"),
    _C("target_not_authorised", Conflict, "the target specialist does not serve the session's region"),
    _C("centre_not_authorised", Conflict, "the target centre is not authorised for the session's region"),
    _C("identity_required", Conflict, "an intake outcome needs a passed identity check"),
    _C("already_rated", Conflict, "the session has been rated already (一次一评)"),
    _C("rating_closed", Conflict,
       "the session can no longer be rated (RW_RATING_WINDOW_HOURS after it was completed)"),
    _C("invalid_rating", InvalidInput, "a rating is a whole number from 1 to 5"),
    # recording and evidence (HTTP)
    _C("evidence_unsealed", Conflict, "the session's evidence is not sealed yet (RW_SEAL_GRACE_SECONDS after it ends)"),
    # materials
    _C("unknown_material", NotFound, "no such material in that session", field="material_id"),
    _C("unknown_request", NotFound, "no such capture request in that session", field="request_id"),
    _C("stale_material", Conflict, "the still's automatic verdict changed since you saw it (its recognition "
       "arrived): look again", field="seen_verdict"),
    _C("override_required", Conflict, "the automatic check rejected this still: accepting it needs your reason "
       "(override_reason)", field="override_reason"),
    _C("not_id_photo", Conflict, "the ID photo must be a still of this session filed as id_card_front, accepted "
       "by you and recognised as an ID card's photo side (or unknown)", field="material_id"),
    # --- hall (issue 18, helper A) ---
    _C("not_called", Conflict, "that ticket is not being called (claimed at another booth, no longer waiting, "
       "or not seated)", field="sid"),
    _C("other_hall", Forbidden, "that ticket was taken in another hall; claim it at a booth of its own hall",
       field="sid"),
    _C("not_waiting", Conflict, "only a ticket still waiting (not yet offered to a specialist) may sit down or be "
       "taken from the queue",
       field="sid"),
    # --- end hall ---
    # --- signing (issue 18, helper B) ---
    _C("unknown_sign_request", NotFound, "no such sign request in that session", field="request_id"),
    _C("sign_request_closed", Conflict, "that sign request was signed or declined already, or the booth "
       "was asked to sign something newer", field="request_id"),
    _C("invalid_strokes", InvalidInput, "the signature's strokes are malformed: [[x, y, t_ms], …] per stroke, "
       "inside the pad, t_ms never decreasing, within the limits", field="strokes"),
    _C("empty_signature", InvalidInput, "the signature has no strokes", field="strokes"),
    _C("unknown_signature", NotFound, "no such signature in that session"),
    # --- end signing ---
    # --- conversation (issue 18, helper C) ---
    _C("chat_full", Conflict, "this session has as many text messages as it may keep; go on by voice or note",
       field="text"),
    _C("chat_empty", InvalidInput, "send some text or a quick reply", field="text"),
    # --- end conversation ---
    # --- outcomes (issue 18, helper D2) ---
    _C("missing_required", InvalidInput, "a needs_supplement outcome must list the missing materials (missing)",
       field="missing"),
    _C("address_required", Conflict, "a postal_delivery outcome needs the delivery address first "
       "(delivery_address)", field="outcome"),
    _C("unknown_status", NotFound, "no status page has that code"),
    # --- end outcomes ---
    # --- console (issue 19, helper C) ---
    _C("not_eligible", Conflict, "the routing rules do not let you serve that session now (not your centre's and "
       "not yet widened to partners, not your language, or a priority-lane citizen waits first)", field="sid"),
    _C("declined_before", Conflict, "you declined that session; while the decline is remembered "
       "(RW_DECLINE_MEMORY_SECONDS) it is not yours to take", field="sid"),
    _C("busy", Conflict, "take a session only while available, with no session or offer of your own"),
    # --- end console ---
    # --- guests (issue 19, helper G) ---
    _C("not_live", Conflict, "the session is not live now (not in service, transferring or reconnecting): "
       "nobody may join it or be invited to it", field="sid"),
    _C("not_allowed", Forbidden, "you may not join that session: a supervisor only joins sessions served by a "
       "specialist of a centre they manage; a reviewer only with an accepted, unexpired invitation", field="sid"),
    _C("guests_full", Conflict, "the session has as many guests as it may (RW_MAX_GUESTS)", field="sid"),
    _C("bad_mode", InvalidInput, "that mode is not yours: supervisors monitor, whisper or barge; reviewers "
       "consult", field="mode"),
    _C("not_guest", Forbidden, "you have not joined that session (join it first)", field="sid"),
    _C("unknown_reviewer", NotFound, "no such reviewer for the session's region", field="reviewer"),
    _C("invite_pending", Conflict, "that reviewer already has an open invitation to this session",
       field="reviewer"),
    _C("unknown_invitation", NotFound, "no such invitation (for you)", field="id"),
    _C("invitation_closed", Conflict, "that invitation was answered, cancelled or has expired", field="id"),
    # --- end guests ---
    # --- dashboards (issue 19, helper D) ---
    _C("note_required", InvalidInput, "say what was done: a bad review's follow-up step needs a note", field="note"),
    _C("centre_required", InvalidInput, "choose a centre: the specialists panel shows one centre at a time",
       field="centre"),
    # --- end dashboards ---
    # --- issue 20: storage / cluster (helper H5) ---
    _C("storage_full", StorageFull, "the server's storage for stills and recordings is full: nothing was stored "
       "(no partial file, no record); try again once an operator has made room"),
    # --- end issue 20 ---
)
del _C

#: Every registered code, by name.
CODES: Final[dict[str, Code]] = {c.code: c for c in _REGISTRY}
assert len(CODES) == len(_REGISTRY), "an error code is registered twice"


def coded(code: str, message: str, *, field: str | None = None) -> RemoteWindowError:
    """The exception for a registered code (an unregistered one is a Conflict: a test forbids it)."""
    entry = CODES.get(code)
    cls = entry.error if entry is not None else Conflict
    return cls(message, code=code, field=field if field is not None else entry.field if entry else None)
