"""Every Redis key name, in one place. The Lua functions receive this table as JSON.

Templates use ``{name}`` placeholders, filled in order. All keys share the ``rw:`` prefix so an
operator can tell them apart from anything else in a shared Redis.
"""

from __future__ import annotations

KEYS: dict[str, str] = {
    # sessions
    "session": "rw:s:{sid}",  # HASH: scalar fields and small JSON fields of one session
    "session_events": "rw:s:{sid}:ev",  # STREAM: the session's own history
    "declined": "rw:s:{sid}:declined",  # HASH agent -> remembered-until ms
    "notes": "rw:s:{sid}:notes",  # LIST of JSON notes
    "chat": "rw:s:{sid}:chat",  # LIST of JSON messages beside the video (issue 18, conversation)
    "materials": "rw:s:{sid}:materials",  # HASH material id -> JSON (documents issue)
    "session_seq": "rw:seq:session:{day}",  # STRING counter: session numbers of one day
    "ticket_seq": "rw:seq:ticket:{centre}:{day}",  # STRING counter: ticket numbers
    "booth_session": "rw:booth:{booth}:session",  # STRING: the booth's open session
    # queues and pools
    "queue": "rw:q:{region}:{lang}",  # ZSET sid -> lane * 1e13 + enqueued ms
    "available": "rw:av:{region}:{tier}:{lang}",  # ZSET agent -> idle since ms
    "centre_available": "rw:avc:{centre}",  # ZSET agent -> idle since ms
    "centre_transfers": "rw:tq:{centre}",  # ZSET sid -> transfer requested ms
    "staff": "rw:staff:{region}:{lang}",  # SET agents online who may serve the region
    "agent": "rw:a:{aid}",  # HASH presence and profile of one specialist
    # timers (ZSET member -> due ms)
    "offers": "rw:t:offers",  # sid -> offer deadline
    "rematch": "rw:t:rematch",  # sid -> widening or a remembered decline ends
    "heartbeats": "rw:t:heartbeats",  # agent -> last heartbeat
    "grace": "rw:t:grace",  # sid -> reconnect grace ends
    "wrap_up": "rw:t:wrapup",  # agent -> wrap-up ends
    "transfer_deadlines": "rw:t:transfers",  # sid -> transfer expires
    "rating_window": "rw:t:rating",  # sid -> the citizen's rating window closes (completed sessions)
    # the log
    "events": "rw:events",  # STREAM: every transition and presence change, chain-wide
    "security": "rw:security",  # STREAM: refused HTTP requests (401/403), capped (store/security_log.py)
    "recent_handling": "rw:stats:aht",  # LIST: recent handling times (ms), newest first
    "active": "rw:active",  # SET: sessions not yet in a final state
    "booth_heartbeats": "rw:t:booths",  # ZSET booth -> last seen by a node
    # signaling
    "connection": "rw:conn:{role}:{subject}",  # STRING: the current socket of a booth/agent/device
    "device": "rw:device:{booth}",  # HASH: the booth's device agent (capabilities, node)
    # accounts
    "user": "rw:user:{username}",  # HASH: role, centre, languages, password hash, disabled
    "users": "rw:users",  # SET of usernames
    "booth_account": "rw:boothacct:{booth}",  # HASH: centre, name, token hash, revoked
    "booth_accounts": "rw:boothaccts",  # SET of booth ids
    "web_session": "rw:web:{digest}",  # HASH: a login (cookie), with a TTL
    "login_failures": "rw:loginfail:{scope}:{subject}",  # STRING counter with a TTL
    "secret": "rw:secret",  # STRING: the connect-token signing key when RW_SECRET is empty
    "nonce": "rw:nonce:{nonce}",  # STRING: a spent connect-token nonce, until its token expires
    # STRING: kind user|booth: the lowest account generation still valid (kept); kind login:
    # a web login ended by logout (TTL: a login's lifetime). Signaling ends older sockets.
    "revoked": "rw:revoked:{kind}:{subject}",
    "revocations": "rw:revocations",  # STRING: a fresh random value at every revocation (the sweep's cue)
    # --- materials: the records themselves are in "materials" above ---
    "material_verdicts": "rw:s:{sid}:verdicts",  # HASH material id -> JSON {verdict, reason, by, at}
    "captures": "rw:s:{sid}:captures",  # HASH capture request id -> JSON {kind, camera, by, at}
    # HASH material id -> JSON: what was read off an ID card (full number, name, birth date…); never listed
    "material_private": "rw:s:{sid}:private",
    "recognitions_pending": "rw:t:recognise",  # ZSET "<sid> <material id>" -> uploaded ms: not recognised yet
    # --- recording and evidence (docs/recording.md) ---
    "recording": "rw:s:{sid}:rec",  # HASH: the session's recording: state, segments, error, finalized
    "rec_segment": "rw:s:{sid}:rec:{n}",  # HASH: one segment: "meta" JSON and "c:<seq>" chunk JSON
    "rec_by_agent": "rw:rec:agent:{aid}",  # ZSET sid -> segment start ms: recordings a specialist took part in
    "rec_by_centre": "rw:rec:centre:{centre}",  # ZSET sid -> first segment ms: recordings of a centre's sessions
    "rec_all": "rw:rec:all",  # ZSET sid -> first segment ms: every recording (chain managers' list)
    "rec_incomplete": "rw:rec:incomplete",  # ZSET sid -> finalized ms: recordings incomplete or failed
    "chain": "rw:s:{sid}:chain",  # LIST of JSON entries: the session's evidence hash chain
    "chain_head": "rw:s:{sid}:chainhead",  # STRING "<count>:<sha256 of the last entry>"
    "seal_due": "rw:t:seal",  # ZSET sid -> ms: ended sessions whose evidence is to be sealed
    "seals": "rw:seals",  # LIST of JSON: the chain-wide append-only seal log (seals and purges)
    "seals_head": "rw:seals:head",  # STRING "<count>:<sha256 of the last seal log entry>"
    "seal_of": "rw:seals:sid",  # HASH sid -> index in rw:seals of its seal
    "holds": "rw:holds",  # HASH sid -> JSON {by, at, reason}: legal holds set by a manager
    "access": "rw:access",  # STREAM: every view or download of a recording, still or package (and refusals)
    "session_access": "rw:s:{sid}:access",  # STREAM: the same, of one session
    "user_access": "rw:access:u:{who}",  # STREAM: the same, of one person (username or booth:<id>)
    # --- signing (issue 18, helper B; window_server/signing/store.py) ---
    "sign_requests": "rw:s:{sid}:signreq",  # HASH request id -> JSON {id, doc, sha256, at, by, state, document}
    "signatures": "rw:s:{sid}:signatures",  # LIST of JSON signature records, n = place (every one is kept)
    # --- guests (issue 19, helper G; window_server/guests/, queue/lua/guests.lua) ---
    "guests": "rw:s:{sid}:guests",  # HASH gid -> JSON {gid, user, role, name, mode, centre, department, agent, at}
    "guested": "rw:guested",  # SET: sessions with guests now (the guests ticker ends them when the session ends)
    "invites": "rw:s:{sid}:invites",  # HASH invitation id -> JSON {id, sid, reviewer, by, state, deadline, …}
    "invite": "rw:inv:{id}",  # STRING: the session of an invitation
    "reviewer_invites": "rw:inv:u:{reviewer}",  # ZSET invitation id -> deadline ms: a reviewer's pending ones
    "invite_deadlines": "rw:t:invites",  # ZSET invitation id -> deadline ms: pending invitations (chain-wide)
    "material_depts": "rw:s:{sid}:depts",  # HASH material id -> JSON {view, note, by, by_name, department, at}
    # --- dashboards: aggregates folded from rw:events (docs/dashboard.md) ---
    "dash_agg": "rw:dash:agg:{layout}:{day}:{scope}:{dim}",  # HASH group -> "n,n,…" counts; scope chain|centre
    "dash_record": "rw:dash:rec:{sid}",  # STRING JSON: a session's folded facts, with a TTL
    "dash_sessions": "rw:dash:sessions:{day}:{scope}",  # ZSET sid -> enqueued ms (exports)
    "dash_ratings": "rw:dash:ratings:{day}:{scope}",  # ZSET sid -> rated ms (exports)
    "dash_review": "rw:dash:review:{sid}",  # HASH: a bad review's follow-up and deadlines
    "dash_reviews": "rw:dash:reviews:{scope}",  # ZSET sid -> rated ms: every bad review
    "dash_reviews_open": "rw:dash:reviews:open:{scope}",  # ZSET sid -> next deadline ms
    "dash_presence": "rw:dash:presence",  # HASH aid -> JSON {status, centre, since, id}
    "dash_states": "rw:dash:states",  # HASH state -> sessions in it now
    "dash_viewers": "rw:dash:viewers",  # HASH node -> JSON {rooms, until}: dashboards open per node
    # --- dashboards (issue 19, helper D): a centre's presence changes of one day (occupancy) ---
    "dash_presday": "rw:dash:presday:{day}:{centre}",  # ZSET JSON {aid, from, to, ts, id} -> ts ms; expires
    # --- end dashboards ---
    # --- the hall (issue 18, helper A): seated tickets, call-backs, help calls (queue/lua/hall.lua) ---
    "hall_seated": "rw:hall:{centre}:seated",  # ZSET sid -> queue score: a hall's seated tickets (called or not)
    "hall_called": "rw:hall:{centre}:called",  # ZSET sid -> claim deadline ms: tickets the hall is calling
    "hall_help": "rw:hall:{centre}:help",  # HASH booth -> JSON {since, reason, sid}: booths calling staff
    "hall_waiting": "rw:t:hallwait",  # ZSET sid -> queue score: seated tickets not yet called (chain-wide)
    "hall_calls": "rw:t:hallcalls",  # ZSET sid -> claim deadline ms: called tickets (chain-wide)
    # --- outcomes (issue 18, helper D2): the public status page's code, written with the session ---
    "status_code": "rw:status:{code}",  # STRING: the session a status page code opens (GET /r/{code})
}


def key(name: str, **parts: str) -> str:
    """Fill a key template: ``key("queue", region="320500", lang="zh")``."""
    return KEYS[name].format(**parts)
