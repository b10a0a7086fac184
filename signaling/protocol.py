"""The wire protocol: every socket.io event, its payload, its acknowledgement and its errors.

This module is the single source of truth. ``docs/protocol.md`` is checked against it by a test,
and the browser's constants (``signaling/static/protocol.js``) are generated from it.

Every client-to-server event is acknowledged with exactly one of
    {"ok": {...}}                                     success
    {"error": {"code": str, "message": str, "field"?: str}}   refusal, nothing changed
Server-to-client events carry a plain object payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from window_server.domain.conversation import CHAT_FROM, MAX_CHAT, QUICK_KEYS
from window_server.domain.errors import CODES, InvalidInput, TooLarge
from window_server.domain.guests import (  # guests (issue 19, helper G)
    INVITE_STATES,
    MARK_VIEWS,
    MAX_GUEST_ID,
    MAX_INVITE_ID,
    MAX_MARK_NOTE,
    MODES,
)
from window_server.domain.idcard import CLASSES
from window_server.domain.materials import (
    AUTO_REASONS,
    CAMERAS,
    CAPTURE_CAMERAS,
    MAX_KIND,
    MAX_REASON_TEXT,
    MAX_REQUEST_ID,
    RECOGNITION_REASONS,
    VARIANTS,
    VERDICT_REASONS,
    VERDICTS,
)
from window_server.domain.presence import SETTABLE, Presence
from window_server.domain.privacy import mask_free_text
from window_server.domain.recognition import MASKED_HEADER, SEEN_VERDICTS
from window_server.domain.session import (
    LANGUAGES,
    MAX_CASE_NUMBER,
    MAX_NOTE,
    MAX_REASON,
    MAX_TARGET,
    RATING_LEVELS,
    Action,
    Outcome,
    Priority,
    State,
    TicketSource,
    TransferMode,
)
from window_server.domain.signing import DOCS as SIGNING_DOCS  # signing (issue 18, helper B)
from window_server.domain.signing import MAX_REQUEST_ID as SIGN_MAX_REQUEST_ID

# --- namespaces -----------------------------------------------------------------------------

BOOTH: Final = "/booth"
DEVICE: Final = "/device"
AGENT: Final = "/agent"
DASHBOARD: Final = "/dashboard"
GUEST: Final = "/guest"  # issue 19: supervisors and reviewers joined to a live session (window_server/guests/)
NAMESPACES: Final = (BOOTH, DEVICE, AGENT, DASHBOARD, GUEST)


class Direction(StrEnum):
    C2S = "client→server"
    S2C = "server→client"


# --- error codes every client must handle -----------------------------------------------------

#: Every code a socket.io client may see, with its meaning: the registry in domain/errors.py.
ERROR_CODES: Final[dict[str, str]] = {c.code: c.meaning for c in CODES.values()}
#: Codes every event may answer (the door's schema, size and rate checks, and the transport's own);
#: an event's ``errors`` lists the others.
GENERIC_ERRORS: Final = ("invalid_input", "payload_too_large", "rate_limited", "unavailable", "internal_error")
#: The codes a refused connection's connect_error carries.
CONNECT_ERRORS: Final = tuple(c.code for c in CODES.values() if c.connect) + ("unavailable",)


# --- payload schema -----------------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """One payload field: its JSON type, whether it is required, its limits and its default.

    ``default`` is what ``parse`` gives an optional field the client left out (or sent null).
    """

    name: str
    kind: str  # "str", "int", "bool", "number", "object", "array", "any"
    doc: str
    required: bool = True
    max_len: int | None = None
    choices: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    free_text: bool = False  # people's words: ID and mobile numbers are masked at the door (parse)
    default: Any = None
    code: str = "invalid_input"  # the error code a bad value answers


@dataclass(frozen=True)
class Event:
    """One socket.io event: where it flows, what it carries, what it answers."""

    name: str
    namespace: str
    direction: Direction
    doc: str
    fields: tuple[F, ...] = ()
    ack: str = ""
    errors: tuple[str, ...] = ()
    max_bytes: int = 4096

    @property
    def key(self) -> tuple[str, str, Direction]:
        return (self.namespace, self.name, self.direction)


SID = F("sid", "str", "session number, e.g. RW20261122000123", max_len=32)
SIGNAL_KINDS = ("offer", "answer", "ice", "bye")
PEERS = ("booth", "agent", "device")


def _values(members: Any) -> tuple[str, ...]:
    return tuple(m.value for m in members)


# The choices below come from the domain's enums: the protocol never copies their literals.
PRIORITIES = _values(Priority)
SOURCES = _values(TicketSource)
OUTCOMES = _values(Outcome)
TRANSFER_MODES = _values(TransferMode)
STATES = _values(State)
PRESENCE_STATUSES = _values(Presence)
PRESENCE = tuple(p.value for p in Presence if p in SETTABLE)  # what a specialist may switch to by hand
#: The ``act`` of a pushed ``session_state``: every action of the transition table, and ``resume``
#: (sent to a client that reconnects, for its open session).
RESUME = "resume"
SESSION_ACTS = (*(a.value for a in Action), RESUME)
MEDIA_PARTIES = ("booth", "agent")
SESSION_STATE_FIELDS = (
    SID,
    F("state", "str", "the session's state after the change (docs/protocol.md, Session lifecycle)",
      choices=STATES),
    F("act", "str", "the action that led here (the transition table's actions; resume: you reconnected)",
      choices=SESSION_ACTS),
    F("ticket", "str", "ticket number shown to the citizen, e.g. A012", required=False),
    F("agent", "str", "the specialist now holding (or offered) the session; transfer_timeout, "
      "transfer_decline: the first specialist, who has it back", required=False),
    F("agent_centre", "str", "the centre of that specialist", required=False),
    F("why", "str", "every act but enqueue, offer, accept, complete and resume may carry it: the words given "
      "(decline, transfer and transfer_accept: the transfer's reason, leave, no_show, rate: the comment) or "
      "the system's cause (offer_timeout, offer_lost, media_lost, media_back, requeue, interrupt, "
      "transfer_timeout); absent when empty. People's words arrive masked (ID and mobile numbers). /agent "
      "only: never sent to a booth or device agent", required=False),
    F("party", "str", "media_lost, media_back: whose media", required=False, choices=MEDIA_PARTIES),
    F("mode", "str", "transfer: warm or cold", required=False, choices=TRANSFER_MODES),
    F("to_agent", "str", "transfer: the named receiving specialist ('' for a centre); transfer_decline, "
      "transfer_timeout, hang_up during a transfer: the specialist it was offered to, if any", required=False),
    F("to_centre", "str", "transfer: the receiving centre ('' for a named specialist)", required=False),
    F("from_agent", "str", "transfer_accept: the specialist who handed it over", required=False),
    F("outcome", "str", "complete: what came of it", required=False, choices=OUTCOMES),
)
#: What the booth side gets: never ``why`` (the specialists' words); on resume, the session's view.
DEVICE_SESSION_STATE_FIELDS = tuple(f for f in SESSION_STATE_FIELDS if f.name != "why")
BOOTH_SESSION_STATE_FIELDS = (
    *DEVICE_SESSION_STATE_FIELDS,
    F("agent_no", "str", "with agent: that specialist's service number (工号), '' if none; the kiosk shows it "
      "with agent_centre (never a name)", required=False),
    F("matter", "str", "resume: the matter code", required=False),
    F("case_number", "str", "resume: the home system's case number, '' if none", required=False),
    F("rating", "str", "resume: the level given, '' if not rated", required=False),
    F("position", "int", "resume while waiting: as in queue_position", required=False),
    F("ahead", "int", "resume while waiting: as in queue_position", required=False),
    F("eta_s", "number", "resume while waiting: as in queue_position", required=False),
    F("wide", "bool", "resume while waiting: as in queue_position", required=False),
    # --- outcomes (issue 18, helper D2)
    F("missing", "array", "resume: needs_supplement's materials still missing, [{kind, how}] (how: post, upload, "
      "visit)", required=False),
    F("delivery", "object", "resume: where the result is posted, masked: {address, recipient}; null if none",
      required=False),
    F("status_code", "str", "resume: the public status page's code (its address: /r/<status_code>)",
      required=False),
    # --- end outcomes
)
GUEST_PEER = "guest"  # issue 19: a guest of the session, named by its gid
GUEST_GID = F("guest", "str", "the guest's id (gid, e.g. g3f2a9c0d): with to/from \"guest\"", required=False,
              max_len=MAX_GUEST_ID, default="")
SIGNAL_IN = (
    SID,
    F("to", "str", "which member of the session receives it (guest: the one named by guest)",
      choices=(*PEERS, GUEST_PEER)),
    GUEST_GID,
    F("kind", "str", "offer, answer, ice candidate, or bye (tear down this peer connection)", choices=SIGNAL_KINDS),
    F("data", "any", "the SDP ({type, sdp}) or candidate ({candidate, sdpMid, sdpMLineIndex}); null for bye",
      required=False),
    F("pc", "str", "which peer connection of the pair (e.g. 'call', 'preview', 'screen')", required=False, max_len=32,
      default="call"),
)
SIGNAL_OUT = (
    SID,
    F("from", "str", "who sent it (guest: the guest named by guest; its pc is always \"g\")",
      choices=(*PEERS, GUEST_PEER)),
    GUEST_GID,
    F("kind", "str", "as sent", choices=SIGNAL_KINDS),
    F("data", "any", "as sent", required=False),
    F("pc", "str", "as sent", required=False),
)
# --- console ---
IDENTITY_METHODS = ("id_card_face", "id_card_chip", "face_only", "other")
IDENTITY_FIELDS = (
    SID,
    F("method", "str", "how: ID card photo against the live face, the card's chip, face only, other",
      choices=IDENTITY_METHODS),
    F("result", "str", "the specialist's verdict", choices=("passed", "failed")),
    F("material_id", "str", "the ID photo compared, if any: a still of this session filed as id_card_front, "
      "accepted by you and recognised as an ID card's photo side or unknown (else not_id_photo)", required=False,
      max_len=32, default=""),
)
# --- materials ---
MATERIAL_DOC = ("{id, sid, kind, camera, sha256, size, width, height, verdict, reasons, sharpness, glare, "
                "brightness, coverage, corners, by, at, request, class, recognition, masked, review, ...}: see "
                "docs/protocol.md, Materials")
MATERIAL_ID = F("material_id", "str", "material id, e.g. m3f2a9c0d1e4b5a67", max_len=32)
REQUEST_ID = F("request_id", "str", "capture request id from the capture's ack, e.g. c0a1b2c3d4e5f6a7b",
               max_len=MAX_REQUEST_ID)
MATERIAL_KIND = F("kind", "str", "material kind from the session's matter (catalogue), or 'other'", max_len=MAX_KIND)
CAPTURE_ERROR = F("error", "object", "{code, message} when no still could be captured (e.g. camera_busy)",
                  required=False)
VERDICT_OUT = (
    SID, MATERIAL_ID, MATERIAL_KIND,
    F("verdict", "str", "the specialist's verdict", choices=VERDICTS),
    F("reason", "str", "a reason code (illegible, cut_off, glare, wrong_document, expired, blurred, other) "
      "or the specialist's words; '' when none"),
    F("advice_zh", "str", "what to tell the citizen, in plain Chinese"),
    F("advice_en", "str", "the same in English"),
)
#: The specialist's copy also says whether the verdict overrode the automatic check.
AGENT_VERDICT_OUT = (
    *VERDICT_OUT,
    F("override", "bool", "true: you accepted a still the automatic check rejected"),
    F("override_reason", "str", "your reason for that (masked: ID and mobile numbers); '' when no override"),
)
#: The automatic verdict a console showed is pending while the still's class is null.
RECOGNISED_BOOTH_DOC = ("{id, kind, verdict, reasons, class}: the automatic verdict once the still is recognised "
                        "(wrong_kind, id_number_invalid, expired, sides_mismatch may have joined the reasons)")
RELAY_ERRORS = ("not_member", "unknown_session")

# --- signing (issue 18, helper B) ---
SIGN_DOCS = SIGNING_DOCS
SIGN_REQUEST_ID = F("request_id", "str", "the sign request's id, e.g. q0a1b2c3d4e5f6a7b", max_len=SIGN_MAX_REQUEST_ID)
SIGNATURE_DOC = ("{id, n, doc, request_id, at, sha256 (the document's), pdf_sha256, strokes_sha256, points, by, "
                 "url}: see docs/protocol.md, Signatures")
# --- end signing ---

# --- conversation (issue 18, helper C) ---
CHAT_OUT = (
    SID,
    F("id", "int", "the message's number in the session, from 1"),
    F("from", "str", "who wrote it", choices=CHAT_FROM),
    F("text", "str", "the words, masked (ID and mobile numbers)"),
    F("quick", "str", "a quick reply's stable key (the booth's chips)", required=False, choices=QUICK_KEYS),
    F("at", "int", "epoch ms"),
)
# --- end conversation ---

# --- guests (issue 19, helper G) ---
GUEST_MODE = F("mode", "str", "monitor (sees and hears, nobody hears you), whisper (only the specialist hears "
               "you), barge (everyone hears you; the booth shows a notice): supervisors; consult (everyone hears "
               "you): reviewers", choices=MODES, code="bad_mode")
GUEST_DOC = ("{gid, role, name, mode, centre, department, at}: gid fresh per join; name the display name; centre "
             "a supervisor's ('' for a chain manager or a reviewer), department a reviewer's; at epoch ms of the join")
GUESTS_OUT = (SID, F("guests", "array", "the session's guests now, [GUEST]: " + GUEST_DOC))
BOOTH_GUESTS_OUT = (SID, F("guests", "array", "[{gid, role, mode, department}]: no names. Show a notice only for "
                           "a guest in barge (主管已加入通话) or consult (审批部门工作人员已加入); play a guest's "
                           "audio only in those modes; answer every guest's offer"))
GUEST_SIGNAL_IN = (
    SID,
    F("to", "str", "which member of the session you joined receives it", choices=PEERS),
    F("kind", "str", "offer, answer, ice candidate, or bye", choices=SIGNAL_KINDS),
    F("data", "any", "the SDP or candidate; null for bye", required=False),
    F("pc", "str", "always \"g\" (one peer connection per pair)", required=False, max_len=32, default="g"),
)
INVITE_DOC = ("{id, sid, reviewer, reviewer_name, by, by_name, centre, matter, region, department, deadline, "
              "state}: deadline epoch ms (RW_INVITE_SECONDS after it was sent)")
INVITE_ID = F("id", "str", "the invitation's id, e.g. i0a1b2c3d4e5f6a7b", max_len=MAX_INVITE_ID)
MARK_DOC = "{view, note, by, by_name, department, at}: note masked (ID and mobile numbers)"
GUEST_ERRORS = ("unknown_session", "not_live", "not_allowed", "guests_full", "bad_mode")
# --- end guests ---

RECORDING_STATUS = (
    SID,
    F("state", "str", "recording | failed | stopped", choices=("recording", "failed", "stopped")),
    F("segment", "int", "the segment that started (recording)", required=False),
    F("error", "str", "why chunks are no longer stored (failed)", required=False),
)

EVENTS: Final[tuple[Event, ...]] = (
    # --- /booth: the kiosk page ----------------------------------------------------------------
    Event("request_service", BOOTH, Direction.C2S,
          "The citizen asks for a matter: a ticket in the queue, offered at once if a specialist is free.",
          (F("matter", "str", "matter code from the catalogue", max_len=64),
           F("priority", "str", "priority lane ('' = none)", required=False, choices=PRIORITIES,
             default=Priority.NONE.value),
           F("source", "str", "ticket source", required=False, choices=SOURCES, default=TicketSource.WALK_IN.value),
           F("lang", "str", "language the citizen wants", required=False, choices=LANGUAGES, default=LANGUAGES[0]),
           F("consent", "bool", "the citizen accepted the recording notice (must be true)")),
          ack="{sid, ticket, state, position, eta_s}",
          errors=("unknown_matter", "unknown_centre", "no_centre_serves", "consent_required", "booth_busy",
                  "illegal_transition")),
    Event("leave_queue", BOOTH, Direction.C2S, "The citizen leaves the queue (放弃).",
          (SID, F("reason", "str", "optional reason", required=False, max_len=MAX_REASON, free_text=True,
                  default="")),
          ack="{sid, state}", errors=("illegal_transition", "not_your_session", "unknown_session")),
    Event("rate", BOOTH, Direction.C2S, "The citizen rates the completed session once (好差评).",
          (SID, F("level", "int", "5 非常满意 … 1 非常不满意", lo=RATING_LEVELS[0], hi=RATING_LEVELS[-1],
                    code="invalid_rating"),
           F("comment", "str", "optional reason, asked for a bad review", required=False, max_len=MAX_REASON,
             default="",
             free_text=True)),
          ack="{sid, state}",
          errors=("invalid_rating", "already_rated", "rating_closed", "illegal_transition", "not_your_session",
                  "unknown_session")),
    Event("resume", BOOTH, Direction.C2S, "Ask again for the booth's open session (also pushed on connect).",
          ack="{session: {sid, ticket, state, position, eta_s, ...} | null}"),
    Event("signal", BOOTH, Direction.C2S, "WebRTC signaling to the specialist of the booth's session.",
          SIGNAL_IN, ack="{}", errors=RELAY_ERRORS, max_bytes=32768),
    Event("session_state", BOOTH, Direction.S2C,
          "The booth's session changed state (act resume: sent on connect for the booth's open session).",
          BOOTH_SESSION_STATE_FIELDS),
    Event("queue_position", BOOTH, Direction.S2C, "Live place in the queue, pushed on every queue change.",
          (SID, F("position", "int", "1 = next"), F("ahead", "int", "sessions ahead"),
           F("eta_s", "number", "estimated wait in seconds, null when no specialist is signed in", required=False),
           F("wide", "bool", "partner centres may serve it now"))),
    Event("signal", BOOTH, Direction.S2C, "WebRTC signaling from the specialist.", SIGNAL_OUT),
    Event("screen_share_request", BOOTH, Direction.S2C, "The specialist asks the citizen to share the booth's screen.",
          (SID,)),
    # --- /device: the booth's device agent -------------------------------------------------------
    Event("register", DEVICE, Direction.C2S, "The device agent announces its cameras.",
          (F("cameras", "array", "[{id, role: main|aux, preview: [w, h], still: [w, h]}]", max_len=8),
           F("version", "str", "device agent version", required=False, max_len=32, default="")),
          ack="{session: {sid, state, agent} | null}"),
    Event("signal", DEVICE, Direction.C2S, "WebRTC signaling (the preview) to the session's specialist.",
          SIGNAL_IN, ack="{}", errors=RELAY_ERRORS, max_bytes=32768),
    Event("signal", DEVICE, Direction.S2C, "WebRTC signaling from the specialist.", SIGNAL_OUT),
    Event("session_state", DEVICE, Direction.S2C, "The booth's session changed state.",
          DEVICE_SESSION_STATE_FIELDS),
    # --- /agent: the specialist's console --------------------------------------------------------
    Event("presence", AGENT, Direction.C2S, "Switch presence by hand.",
          (F("status", "str", "the new presence", choices=PRESENCE),),
          ack="{status, offer}", errors=("presence_busy", "signed_out", "unknown_agent", "illegal_transition")),
    Event("accept", AGENT, Direction.C2S, "Accept the offer you hold (a queue offer or a transfer).", (SID,),
          ack="{sid, state}", errors=("not_your_offer", "offer_expired", "illegal_transition", "unknown_session")),
    Event("decline", AGENT, Direction.C2S, "Decline the offer you hold; it goes to the next specialist.",
          (SID, F("reason", "str", "optional reason", required=False, max_len=MAX_REASON, free_text=True,
                  default="")),
          ack="{sid, state}", errors=("not_your_offer", "offer_expired", "illegal_transition", "unknown_session")),
    Event("transfer", AGENT, Direction.C2S,
          "Hand the session to a named specialist or to a centre, warm or cold, with a reason.",
          (SID, F("reason", "str", "why (shown to the specialists, never to the booth; kept in the history)",
                  max_len=MAX_REASON,
             free_text=True),
           F("mode", "str", "warm: you stay until accepted; cold: you leave the call at once", required=False,
             choices=TRANSFER_MODES, default=TransferMode.WARM.value),
           F("to_agent", "str", "username of the receiving specialist", required=False, max_len=MAX_TARGET,
             default=""),
           F("to_centre", "str", "centre id whose specialists receive it", required=False, max_len=MAX_TARGET,
             default="")),
          ack="{sid, state, offered_to}",
          errors=("reason_required", "invalid_target", "target_unavailable", "target_not_authorised",
                  "centre_not_authorised", "unknown_centre", "not_your_session", "illegal_transition",
                  "unknown_session")),
    Event("complete", AGENT, Direction.C2S, "End the session with an outcome.",
          (SID, F("outcome", "str", "what came of it", choices=OUTCOMES),
           F("case_number", "str", "the home system's case number (办件编号), if any", required=False,
             max_len=MAX_CASE_NUMBER, default="",
             free_text=True),
           # --- console ---
           F("missing", "array", "needs_supplement (required, not empty: missing_required): the materials still "
             "missing (补正清单), each {kind, how} with how post (邮寄) | upload (网上上传, a copy of a matter done "
             "fully online) | visit (回来现场补交), or a plain kind (its default how); stored with the completion, "
             "shown on the booth's receipt and the status page, and a note in the history",
             required=False, max_len=32)),
          ack="{sid, state}", errors=("identity_required", "missing_required", "address_required",
                                      "not_your_session", "illegal_transition", "unknown_session",
                                      "unknown_matter")),
    Event("no_show", AGENT, Direction.C2S, "Nobody is at the booth (过号).",
          (SID, F("reason", "str", "optional", required=False, max_len=MAX_REASON, free_text=True, default="")),
          ack="{sid, state}", errors=("not_your_session", "illegal_transition", "unknown_session")),
    Event("note", AGENT, Direction.C2S, "Add a note to the session you hold.",
          (SID, F("text", "str", "the note", max_len=MAX_NOTE, free_text=True)), ack="{sid}",
          errors=("text_required", "not_your_session", "illegal_transition", "unknown_session"), max_bytes=16384),
    Event("queue_view", AGENT, Direction.C2S,
          "The waiting sessions of your scope, best first: your centre's, and partner centres' once the "
          "router widened them (`wide`). `declined`: you declined it and the router will not offer it to "
          "you again while it remembers that. `takeable`: you may take it now (`take`); else `take_block` is the "
          "code `take` would answer.",
          ack="{sessions: [{sid, ticket, matter, intake_centre, region, lang, priority, waited_s, wide, declined, "
              "state, takeable, take_block}]}"),
    Event("session_detail", AGENT, Direction.C2S,
          "Everything a session holds (history, notes, transfers) for its specialist or an offered one.",
          (SID,), ack="{session, events, notes}", errors=("not_member", "unknown_session")),
    Event("screen_share_request", AGENT, Direction.C2S, "Ask the booth to share its screen.", (SID,),
          ack="{}", errors=("not_member", "unknown_session")),
    Event("signal", AGENT, Direction.C2S, "WebRTC signaling to the booth or its device agent.",
          SIGNAL_IN, ack="{}", errors=RELAY_ERRORS, max_bytes=32768),
    Event("offer", AGENT, Direction.S2C,
          "A session is offered to you until the deadline (RW_OFFER_TIMEOUT_SECONDS after it was made; a "
          "transfer's offer ends earlier if the transfer's own deadline comes first: see Transfers).",
          (SID, F("deadline", "int", "epoch ms"), F("transfer", "bool", "a transfer, not a queue offer"),
           F("matter", "str", "matter code"), F("region", "str", "home region"),
           F("from_agent", "str", "transfer: the specialist handing it over", required=False),
           F("from_centre", "str", "transfer: that specialist's centre", required=False),
           F("why", "str", "transfer: the reason they gave (masked: ID and mobile numbers)", required=False),
           # --- console (issue 19, helper C): what the ringing console shows before the detail arrives
           F("language", "str", "the citizen's language (zh, en)", required=False),
           F("priority", "str", "the priority lane ('' none, elderly, disabled, pregnant)", required=False),
           F("ticket", "str", "the citizen's ticket (P001)", required=False))),
    Event("session_state", AGENT, Direction.S2C, "A session you hold or were offered changed state.",
          SESSION_STATE_FIELDS),
    Event("presence", AGENT, Direction.S2C, "Your presence changed (by you, by a timeout or a session).",
          (F("status", "str", "your presence now", choices=PRESENCE_STATUSES),)),
    Event("queue_changed", AGENT, Direction.S2C, "A queue in your scope changed; ask queue_view again.",
          (F("region", "str", "home region"),)),
    Event("signal", AGENT, Direction.S2C, "WebRTC signaling from the booth or its device agent.", SIGNAL_OUT),
    Event("device_ready", AGENT, Direction.S2C, "The booth's device agent is (back) online: ask for the preview.",
          (SID, F("cameras", "array", "as registered"))),
    # --- /dashboard ----------------------------------------------------------------------------
    Event("queue_update", DASHBOARD, Direction.S2C,
          "Something in your scope changed; the scope's live figures (as GET /api/dashboard/live answers), "
          "at most every RW_DASHBOARD_PUSH_SECONDS per room (docs/dashboard.md).",
          (F("scope", "str", "'chain', or the centre id of a manager's or team lead's room"),
           F("as_of", "int", "epoch ms when the figures were read (they include every change committed before)"),
           F("totals", "object", "{waiting, longest_wait_s, agents: {status: n}, in_service, transfers_pending, "
             "today: {KPIs}, reviews: {open, overdue}}"),
           F("centres", "array", "per centre: {centre, waiting, longest_wait_s, queue_waiting, agents, in_service, "
             "transfers_pending, today, reviews, alarms}"),
           F("regions", "array", "per home region: {region, waiting, longest_wait_s, available, staff, alarm}"),
           F("alarms", "array", "{kind: long_wait | no_specialist, centre | region, count, waited_s}"),
           F("longest", "array", "the longest waits: {ticket, sid, intake, matter, region, state, waited_s}"),
           F("wait_alarm_s", "number", "the wait alarm threshold (RW_WAIT_ALARM_SECONDS)"))),
    # --- console ---------------------------------------------------------------------
    Event("identity", AGENT, Direction.C2S,
          "Record the identity check (远程身份核验) of the session you hold; the latest one counts.",
          IDENTITY_FIELDS, ack="{sid, identity: {method, result, material_id, at, by}}",
          errors=("not_id_photo", "not_your_session", "illegal_transition", "unknown_session")),
    Event("identity", AGENT, Direction.S2C,
          "An identity check was recorded on the session you hold (every tab of yours, on any node).",
          (*IDENTITY_FIELDS, F("at", "int", "epoch ms"), F("by", "str", "the specialist who recorded it"))),
    # --- materials -------------------------------------------------------------------
    Event("capture", AGENT, Direction.C2S,
          "Ask the booth's device agent for a full-resolution still; its capture_result and the "
          "stored material's material_added follow.",
          (SID, MATERIAL_KIND,
           F("camera", "str", "which camera (main: the 高拍仪's document head)", required=False,
             choices=CAPTURE_CAMERAS, default=CAPTURE_CAMERAS[0])),
          ack="{request_id}", errors=("peer_absent", "not_your_session", "illegal_transition", "unknown_session",
                                      "unknown_matter")),
    Event("verdict", AGENT, Direction.C2S,
          "Accept or reject a material of the session you hold; a later verdict replaces it (each is "
          "kept in the history). The booth is told in plain words (material_verdict).",
          (SID, MATERIAL_ID, F("verdict", "str", "your verdict", choices=VERDICTS),
           F("reason", "str", "a reason code (illegible, cut_off, glare, wrong_document, expired, blurred, "
             "other) or your own words", required=False, max_len=MAX_REASON_TEXT, free_text=True),
           F("seen_verdict", "str", "the automatic verdict your console showed (pending: class still null); "
             "if the still changed since, nothing is recorded: stale_material", required=False,
             choices=SEEN_VERDICTS),
           F("override_reason", "str", "why you accept a still the automatic check rejected (required then: "
             "override_required); kept with the verdict and in the history", required=False,
             max_len=MAX_REASON_TEXT, free_text=True, default="")),
          ack="{sid, material_id, kind, verdict, reason, override, override_reason, advice_zh, advice_en}",
          errors=("stale_material", "override_required", "unknown_material", "not_your_session",
                  "illegal_transition", "unknown_session")),
    Event("capture_result", AGENT, Direction.S2C,
          "The device agent's answer to your capture: the stored material's id, or why it failed.",
          (SID, REQUEST_ID, MATERIAL_KIND, F("material_id", "str", "the stored material", required=False),
           CAPTURE_ERROR)),
    Event("material_added", AGENT, Direction.S2C,
          "A still was stored for the session you hold (the booth's or yours). Never image bytes: fetch "
          "GET /api/sessions/{sid}/materials/{material_id}/{variant}.",
          (SID, F("material", "object", MATERIAL_DOC))),
    Event("material_verdict", AGENT, Direction.S2C,
          "A verdict was recorded on a material of the session you hold (what the booth was told, and "
          "whether it overrode the automatic check).", AGENT_VERDICT_OUT),
    Event("material_recognised", AGENT, Direction.S2C,
          "A still of the session you hold was recognised (after its material_added; once per still, also "
          "when nothing changed): its class, what was read (ID numbers masked), its masked rendition, and the "
          "reasons and verdict recomputed. Fetch the card's fields in full with GET "
          "/api/sessions/{sid}/materials/{material_id}/id-fields.",
          (SID, F("material", "object", MATERIAL_DOC))),
    Event("capture_request", DEVICE, Direction.S2C,
          "The specialist asks for a still: capture it, upload it with POST /api/sessions/{sid}/materials"
          "?kind=…&camera=…&request=<request_id>, then send capture_result.",
          (SID, REQUEST_ID, MATERIAL_KIND, F("camera", "str", "which camera", choices=CAPTURE_CAMERAS))),
    Event("capture_result", DEVICE, Direction.C2S,
          "Answer a capture_request: the uploaded material's id, or an error; relayed to the specialist.",
          (SID, REQUEST_ID, F("material_id", "str", "the material the upload answered with", required=False,
                              max_len=32), CAPTURE_ERROR),
          ack="{}", errors=("not_member", "unknown_request", "unknown_material", "unknown_session")),
    Event("recording_status", AGENT, Direction.S2C,
          "The session's recording changed: a segment started (recording), chunks can no longer be stored "
          "(failed: show 录制异常; you decide whether to go on), or it stopped. See docs/recording.md.",
          RECORDING_STATUS),
    Event("recording_status", BOOTH, Direction.S2C,
          "The same for the booth: failed means the server stopped acknowledging the kiosk's chunks.",
          RECORDING_STATUS),
    Event("material_added", BOOTH, Direction.S2C,
          "A still of this booth's session was stored and checked: show the advice (wait, or what to fix).",
          (SID, F("material", "object", "{id, kind, verdict, reasons}: the automatic check"),
           F("advice_zh", "str", "what to tell the citizen, in plain Chinese"),
           F("advice_en", "str", "the same in English"))),
    Event("material_recognised", BOOTH, Direction.S2C,
          "A still of this booth's session was recognised: stop showing 识别中 and show the advice (a wrong "
          "document is named: 这不是身份证人像面，请放身份证人像面).",
          (SID, F("material", "object", RECOGNISED_BOOTH_DOC),
           F("advice_zh", "str", "what to tell the citizen, in plain Chinese"),
           F("advice_en", "str", "the same in English"))),
    Event("material_verdict", BOOTH, Direction.S2C,
          "The specialist accepted or rejected a material; a rejection is followed by a new capture.",
          VERDICT_OUT),
    # --- booth -----------------------------------------------------------------------
    Event("screen_share_reply", BOOTH, Direction.C2S,
          "The citizen's answer to screen_share_request; when true the booth's offer (pc \"screen\") follows.",
          (SID, F("accepted", "bool", "the citizen agreed to share the booth's screen")),
          ack="{}", errors=("not_member", "unknown_session")),
    Event("screen_share_reply", AGENT, Direction.S2C,
          "The citizen answered your screen_share_request (false: declined, or the share could not start).",
          (SID, F("accepted", "bool", "the citizen agreed"))),
    # --- hall (issue 18, helper A) ---
    Event("sit_down", BOOTH, Direction.C2S,
          "The waiting citizen takes a slip and sits down (取号凭条): the ticket keeps its place, the booth is "
          "free for the next citizen (it has no open session any more); the hall calls the ticket back "
          "(ticket_called) when it is next.",
          (SID,), ack="{sid, ticket, state, call_back_s}: call_back_s, the seconds a called ticket waits to be "
          "claimed", errors=("not_your_session", "not_waiting", "unknown_session")),
    Event("claim_ticket", BOOTH, Direction.C2S,
          "The citizen of a called ticket touched its call on this free booth: the session is this booth's now "
          "and queued again in its old place (at the head); session is its view, as resume's.",
          (SID,), ack="{sid, ticket, state, agent, session}",
          errors=("not_called", "other_hall", "booth_busy", "unknown_session")),
    Event("hall_calls", BOOTH, Direction.C2S,
          "Ask for the tickets the hall is calling now and this booth's help call (after a (re)connect).",
          (), ack="{calls: [{sid, ticket, deadline}], help: {since, reason} | null}"),
    Event("call_staff", BOOTH, Direction.C2S,
          "The citizen calls the hall's staff (呼叫现场工作人员); pressing again keeps the first time. The hall "
          "staff view (GET /hall/{centre}/staff) lists it until staff acknowledge it (staff_coming).",
          (F("reason", "str", "what for: help (default), device (the booth misbehaves), accessibility",
             required=False, choices=("help", "device", "accessibility"), default="help"),),
          ack="{since}"),
    Event("call_staff_cancel", BOOTH, Direction.C2S, "The citizen no longer needs the hall's staff.", (),
          ack="{}"),
    Event("ticket_called", BOOTH, Direction.S2C,
          "A seated ticket of this hall is called back: a free booth shows a big button to claim it "
          "(claim_ticket) until ticket_call_over or the deadline.",
          (SID, F("ticket", "str", "the ticket number, e.g. A012"),
           F("deadline", "int", "ms since the epoch: claimed by then, or the ticket becomes no_show"))),
    Event("ticket_call_over", BOOTH, Direction.S2C,
          "A call is over: claimed at a booth, or not claimed in time (the ticket is no_show).",
          (SID, F("ticket", "str", "the ticket number"),
           F("why", "str", "claimed or expired", choices=("claimed", "expired")))),
    Event("staff_coming", BOOTH, Direction.S2C,
          "Hall staff acknowledged this booth's help call (已处理): someone is on the way; the call is cleared.",
          (F("by", "str", "the username of the member of staff", required=False),)),
    # --- end hall ---
    # --- signing (issue 18, helper B) ---
    Event("sign_request", AGENT, Direction.C2S,
          "Ask the citizen to sign a document of the session's matter on the kiosk (告知承诺书 or 申请表); "
          "the booth gets sign_request with its text. A newer request replaces a pending one. See docs/booth.md, "
          "Signing.",
          (SID, F("doc", "str", "which document: commitment (告知承诺书) or application_form (申请表)",
                  choices=SIGN_DOCS)),
          ack="{request_id, doc, sha256, at, title: {zh, en}}",
          errors=("not_your_session", "illegal_transition", "unknown_session", "unknown_matter")),
    Event("sign_request", BOOTH, Direction.S2C,
          "The specialist asks the citizen to sign: show the document (large, scrolling), then the pad; send the "
          "strokes with POST /api/sessions/{sid}/signatures, or sign_declined.",
          (SID, SIGN_REQUEST_ID, F("doc", "str", "commitment | application_form", choices=SIGN_DOCS),
           F("sha256", "str", "SHA-256 of the document's canonical text (docs/booth.md, Signing)"),
           F("title", "object", "{zh, en}"),
           F("paragraphs", "array", "[{zh, en}]: the document's text; the Chinese is the binding one"))),
    Event("sign_declined", BOOTH, Direction.C2S, "The citizen chose 暂不签 (not now); the specialist is told.",
          (SID, SIGN_REQUEST_ID), ack="{}",
          errors=("not_member", "unknown_sign_request", "sign_request_closed", "illegal_transition",
                  "unknown_session")),
    Event("sign_declined", AGENT, Direction.S2C, "The citizen did not sign now (暂不签).",
          (SID, SIGN_REQUEST_ID, F("doc", "str", "the document asked for", choices=SIGN_DOCS),
           F("at", "int", "epoch ms"))),
    Event("signature_added", AGENT, Direction.S2C,
          "The citizen signed: the signature is stored (strokes and the stamped PDF) and chained as evidence. "
          "Fetch the PDF at url (GET /api/sessions/{sid}/signatures/{id}.pdf).",
          (SID, F("signature", "object", SIGNATURE_DOC))),
    Event("signature_added", BOOTH, Direction.S2C, "The signature was stored: thank the citizen (已签名).",
          (SID, SIGN_REQUEST_ID, F("doc", "str", "the document signed", choices=SIGN_DOCS),
           F("at", "int", "epoch ms"))),
    # --- end signing ---
    # --- conversation (issue 18, helper C) ---
    Event("chat", AGENT, Direction.C2S,
          "Write to the citizen beside the video (shown large on the kiosk); kept in the session's record "
          "and evidence. Only while you hold the session.",
          (SID, F("text", "str", "your words (masked: ID and mobile numbers)", max_len=MAX_CHAT, free_text=True)),
          ack="{sid, id, from, text, at}",
          errors=("chat_empty", "chat_full", "not_member", "illegal_transition", "unknown_session"),
          max_bytes=8192),
    Event("chat", BOOTH, Direction.C2S,
          "The citizen writes to the specialist: a quick reply (a chip: its key and its words in the "
          "citizen's language) or typed words. Only while a specialist holds the session.",
          (SID, F("text", "str", "the words (a chip's in the citizen's language; masked: ID and mobile "
                  "numbers); may be left out with quick", required=False, max_len=MAX_CHAT, free_text=True,
                  default=""),
           F("quick", "str", "the quick reply's stable key", required=False, choices=QUICK_KEYS, default="")),
          ack="{sid, id, from, text, quick?, at}",
          errors=("chat_empty", "chat_full", "not_member", "illegal_transition", "unknown_session"),
          max_bytes=8192),
    Event("chat_history", AGENT, Direction.C2S, "The session's messages so far (after a reload).", (SID,),
          ack="{sid, messages: [{sid, id, from, text, quick?, at}]}", errors=("not_member", "unknown_session")),
    Event("chat_history", BOOTH, Direction.C2S, "The booth's session's messages so far (after a reload).",
          (SID,), ack="{sid, messages: [{sid, id, from, text, quick?, at}]}",
          errors=("not_member", "unknown_session")),
    Event("chat", AGENT, Direction.S2C,
          "A message of the session you hold (yours, from any tab, or the citizen's): a quick reply carries "
          "its key (show the Chinese words of the key).", CHAT_OUT),
    Event("chat", BOOTH, Direction.S2C, "A message of this booth's session (the specialist's, or its own).",
          CHAT_OUT),
    Event("hang_up", BOOTH, Direction.C2S,
          "The citizen ends the call (结束通话, after a confirmation): the session is completed without an "
          "outcome and may be rated; a transfer in flight ends with it, the specialist goes to wrap-up.",
          (SID,), ack="{sid, state}", errors=("not_your_session", "illegal_transition", "unknown_session")),
    # --- end conversation ---
    # --- outcomes (issue 18, helper D2) ---
    Event("delivery_address", AGENT, Direction.C2S,
          "The delivery address of the result (结果寄递), typed with the citizen, for the session you hold: kept "
          "in full in the session's private record and its evidence, masked everywhere else (张*, 138****5678, "
          "上海市黄浦区****) and in the history; a later one replaces it. Needed before completing with "
          "postal_delivery (address_required). Never logged.",
          (SID, F("recipient", "str", "who receives it (收件人)", max_len=40),
           F("phone", "str", "their phone number (7 to 15 digits)", max_len=24),
           F("address", "str", "the full postal address", max_len=200)),
          ack="{sid, delivery: {recipient, phone, address} (masked)}",
          errors=("not_your_session", "illegal_transition", "unknown_session")),
    # --- end outcomes ---
    # --- console (issue 19, helper C) ---
    Event("take", AGENT, Direction.C2S,
          "Take a waiting session from your queue list (接办) when the routing rules let you serve it: you are "
          "available with no session or offer; it waits in your centre's scope (a partner centre: once it "
          "widened), in your language; no citizen of an earlier lane you could serve waits before it; you did not "
          "decline it while the decline memory holds (a missed offer is no decline). Offered and accepted in one "
          "step: the same pushes as an accept (no ringing offer).",
          (SID,), ack="{sid, state}",
          errors=("not_eligible", "declined_before", "not_waiting", "busy", "unknown_session",
                  "illegal_transition")),
    # --- end console ---
    # --- guests (issue 19, helper G) ---
    Event("join", GUEST, Direction.C2S,
          "Join a live session as a guest (docs/protocol.md, Guests): a supervisor one served by a specialist of "
          "a centre they manage; a reviewer one they accepted an invitation to (mode consult). Joining again "
          "(a reload) replaces your earlier place. Then offer to booth, agent and device (pc \"g\").",
          (SID, GUEST_MODE),
          ack="{sid, gid, mode, guests: [GUEST], session: {sid, ticket, state, matter, region, language, priority, "
          "agent, agent_name, agent_centre, booth}, device: bool (the booth's device agent is online)}",
          errors=GUEST_ERRORS),
    Event("mode", GUEST, Direction.C2S,
          "Change your mode (supervisors: monitor, whisper, barge; reviewers: consult only).",
          (SID, GUEST_MODE), ack="{sid, mode, guests}", errors=("not_guest", "bad_mode", "not_live",
                                                                "unknown_session")),
    Event("leave", GUEST, Direction.C2S, "Leave the session (also when your socket closes): close your peers.",
          (SID,), ack="{sid}", errors=("unknown_session",)),
    Event("signal", GUEST, Direction.C2S,
          "WebRTC signaling to the booth, the specialist or the device agent of the session you joined "
          "(relayed with from \"guest\" and your gid).",
          GUEST_SIGNAL_IN, ack="{}", errors=RELAY_ERRORS, max_bytes=32768),
    Event("invitations", GUEST, Direction.C2S, "Reviewers: your pending invitations (after a (re)connect).",
          (), ack="{invitations: [INVITE]}"),
    Event("invitation_reply", GUEST, Direction.C2S,
          "Reviewers: accept or decline an invitation; accepting does not join: send join {sid, mode: "
          "\"consult\"} next.",
          (INVITE_ID, F("accept", "bool", "true: accept; false: decline")), ack="{id, sid, state}",
          errors=("unknown_invitation", "invitation_closed", "not_live", "unknown_session")),
    Event("mark", GUEST, Direction.C2S,
          "Reviewers joined in consult: how your department sees a material (kept on the material as dept, in "
          "the record as dept_mark; the note goes with the material, never into the history).",
          (SID, MATERIAL_ID, F("view", "str", "ok, not_ok or unsure", choices=MARK_VIEWS),
           F("note", "str", "your words (masked: ID and mobile numbers)", required=False, max_len=MAX_MARK_NOTE,
             free_text=True, default="")),
          ack="{sid, material_id, mark: MARK}: " + MARK_DOC,
          errors=("not_guest", "bad_mode", "unknown_material", "not_live", "unknown_session")),
    Event("signal", GUEST, Direction.S2C, "WebRTC signaling (answer, ice) from the booth, specialist or device.",
          SIGNAL_OUT),
    Event("guests", GUEST, Direction.S2C, "The guests of the session you joined changed.", GUESTS_OUT),
    Event("guest_ended", GUEST, Direction.S2C,
          "You are no longer a guest of the session: it left the live states (completed, transferred, ended…) or "
          "you joined it from another tab; close your peers.",
          (SID, F("why", "str", "session_ended, transferred, replaced, left"))),
    Event("invited", GUEST, Direction.S2C, "Reviewers: a specialist invites you into a live session.",
          (INVITE_ID, SID, F("reviewer", "str", "your username"), F("by", "str", "the specialist's username"),
           F("by_name", "str", "the specialist's display name"), F("centre", "str", "the specialist's centre"),
           F("matter", "str", "the matter code"), F("region", "str", "the matter's home region"),
           F("department", "str", "the matter's department"), F("deadline", "int", "epoch ms: answer by then"),
           F("state", "str", "pending", choices=INVITE_STATES), F("reviewer_name", "str", "your display name",
                                                                   required=False),
           F("at", "int", "epoch ms it was sent", required=False))),
    Event("invitation_over", GUEST, Direction.S2C, "Reviewers: an invitation is no longer pending.",
          (INVITE_ID, SID, F("state", "str", "accepted, declined, expired or cancelled", choices=INVITE_STATES))),
    Event("reviewers", AGENT, Direction.C2S,
          "The reviewers you may invite into the session you hold: those of its matter's home region.",
          (SID,), ack="{reviewers: [{username, name, region, department, online}]}: online, their /guest page is "
          "connected", errors=("not_your_session", "unknown_session")),
    Event("invite", AGENT, Direction.C2S,
          "Invite a reviewer into the live session you hold (三方会商); it expires after RW_INVITE_SECONDS.",
          (SID, F("reviewer", "str", "the reviewer's username", max_len=32, code="unknown_reviewer")),
          ack="{id, deadline}",
          errors=("unknown_session", "not_your_session", "not_live", "unknown_reviewer", "invite_pending")),
    Event("invite_cancel", AGENT, Direction.C2S, "Withdraw a pending invitation of yours.",
          (INVITE_ID,), ack="{id, state}", errors=("unknown_invitation", "invitation_closed", "not_your_session")),
    Event("guests", AGENT, Direction.S2C,
          "The guests of the session you hold changed (every guest with name and mode, monitor too: you are told "
          "when you are supervised). Play a guest's audio only in whisper, barge or consult.", GUESTS_OUT),
    Event("invitation", AGENT, Direction.S2C, "An invitation of yours changed state.",
          (INVITE_ID, SID, F("reviewer", "str", "the reviewer's username"),
           F("state", "str", "pending, accepted, declined, expired or cancelled", choices=INVITE_STATES),
           F("reviewer_name", "str", "their display name", required=False),
           F("deadline", "int", "epoch ms", required=False))),
    Event("material_mark", AGENT, Direction.S2C, "A reviewer marked a material of the session you hold.",
          (SID, MATERIAL_ID, F("mark", "object", MARK_DOC))),
    Event("guests", AGENT, Direction.C2S, "The guests of the session you hold now (after a reload).", (SID,),
          ack="{sid, guests: [GUEST]}", errors=("not_member", "unknown_session")),
    Event("guests", BOOTH, Direction.C2S, "The guests of this booth's session now (after a reload; no names).",
          (SID,), ack="{sid, guests: [{gid, role, mode, department}]}", errors=("not_member", "unknown_session")),
    Event("guests", DEVICE, Direction.C2S, "As the booth's, for its device agent.", (SID,),
          ack="{sid, guests: [{gid, role, mode, department}]}", errors=("not_member", "unknown_session")),
    Event("guests", BOOTH, Direction.S2C, "The session's guests changed (no names).", BOOTH_GUESTS_OUT),
    Event("guests", DEVICE, Direction.S2C,
          "The session's guests changed (no names): close the preview peer of a guest no longer listed.",
          BOOTH_GUESTS_OUT),
    # --- end guests ---
)

_BY_KEY: Final = {e.key: e for e in EVENTS}


def event(namespace: str, name: str, direction: Direction = Direction.C2S) -> Event:
    """Look up one event's spec."""
    return _BY_KEY[(namespace, name, direction)]


def client_events(namespace: str) -> dict[str, Event]:
    """The events a client may send in a namespace."""
    return {e.name: e for e in EVENTS if e.namespace == namespace and e.direction is Direction.C2S}


# --- validation at the door ---------------------------------------------------------------------

_KINDS: Final[dict[str, tuple[type, ...]]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
}


def payload_size(data: Any) -> int:
    """Bytes of the payload as JSON (what the cap counts)."""
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def parse(spec: Event, data: Any) -> dict[str, Any]:
    """Validate a client payload against its spec; return it with optional fields given their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{spec.name}: the payload must be an object")
    try:
        size = payload_size(data)
    except (TypeError, ValueError):  # binary attachments or non-JSON values
        raise InvalidInput(f"{spec.name}: the payload must be plain JSON") from None
    if size > spec.max_bytes:
        raise TooLarge(f"{spec.name}: payload over {spec.max_bytes} bytes", code="payload_too_large")
    known = {f.name for f in spec.fields}
    for name in data:
        if name not in known:
            raise InvalidInput(f"{spec.name}: unknown field {name!r}", field=str(name)[:64])
    out: dict[str, Any] = {}
    for f in spec.fields:
        if f.name not in data or data[f.name] is None:
            if f.required and f.kind != "any":
                raise InvalidInput(f"{spec.name}: {f.name} is required", code=f.code, field=f.name)
            out[f.name] = f.default
            continue
        value = _check(spec.name, f, data[f.name])
        out[f.name] = mask_free_text(value) if f.free_text and isinstance(value, str) else value
    return out


def _check(event_name: str, f: F, value: Any) -> Any:
    if f.kind != "any":
        types = _KINDS[f.kind]
        if not isinstance(value, types) or (f.kind in ("int", "number") and isinstance(value, bool)):
            raise InvalidInput(f"{event_name}: {f.name} must be {f.kind}", code=f.code, field=f.name)
    if f.max_len is not None and isinstance(value, str | list) and len(value) > f.max_len:
        raise InvalidInput(f"{event_name}: {f.name} is longer than {f.max_len}", code=f.code, field=f.name)
    if f.choices is not None and value not in f.choices:
        raise InvalidInput(f"{event_name}: {f.name} must be one of {', '.join(map(repr, f.choices))}",
                           code=f.code, field=f.name)
    if f.lo is not None and value < f.lo or f.hi is not None and value > f.hi:
        raise InvalidInput(f"{event_name}: {f.name} must be between {f.lo:g} and {f.hi:g}", code=f.code,
                           field=f.name)
    return value


def offer_payload(fx: dict[str, Any]) -> dict[str, Any]:
    """The ``offer`` pushed to a specialist, from the queue's effect: a transfer's says who and why."""
    out = {"sid": fx["sid"], "deadline": int(fx.get("deadline") or 0), "transfer": bool(fx.get("transfer")),
           "matter": fx.get("matter") or "", "region": fx.get("region") or ""}
    if out["transfer"]:
        out.update({k: fx.get(k) or "" for k in ("from_agent", "from_centre", "why")})
    out.update({k: fx.get(k) or "" for k in ("language", "priority", "ticket")})  # issue 19, helper C
    return out


def ok(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The success acknowledgement."""
    return {"ok": payload or {}}


def browser_constants() -> dict[str, Any]:
    """The constants the browser modules import, generated into signaling/static/protocol.js."""
    events: dict[str, dict[str, list[str]]] = {}
    for e in EVENTS:
        side = "send" if e.direction is Direction.C2S else "receive"
        events.setdefault(e.namespace, {"send": [], "receive": []})[side].append(e.name)
    return {
        "namespaces": {"booth": BOOTH, "device": DEVICE, "agent": AGENT, "dashboard": DASHBOARD, "guest": GUEST},
        "events": events,
        "errors": sorted(ERROR_CODES),
        "signalKinds": list(SIGNAL_KINDS),
        "outcomes": list(OUTCOMES),
        "priorities": list(PRIORITIES),
        "quickReplies": list(QUICK_KEYS),  # issue 18, conversation: the booth's chips, in this order
        "guestModes": list(MODES),  # issue 19, guests
        "markViews": list(MARK_VIEWS),

        "materials": {"cameras": list(CAMERAS), "captureCameras": list(CAPTURE_CAMERAS),
                      "variants": list(VARIANTS), "verdicts": list(VERDICTS),
                      "verdictReasons": list(VERDICT_REASONS), "autoReasons": list(AUTO_REASONS),
                      "recognitionReasons": list(RECOGNITION_REASONS), "classes": list(CLASSES),
                      "seenVerdicts": list(SEEN_VERDICTS), "maskedHeader": MASKED_HEADER},
    }
