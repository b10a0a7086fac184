"""The queue's whole lifecycle as a plain model: the oracle of the Lua queue's rules.

One method per queue call (``rw_enqueue`` … ``rw_tick``), each applying the rules in the same
order the Redis functions do, over plain objects and the routing oracle (``QueueModel``):
offers and their deadlines, declines and their memory, misses and away, transfers (named or
to a centre, warm or cold) with their offer and deadline, lost heartbeats, the reconnect grace
(back to the head of the queue, lane 0, or interrupted), no-show, wrap-up and its timer, and the
hall's seated tickets (issue 18, ``queue/lua/hall.lua``): sitting down, the call-back when fewer
than ``call_ahead`` wait ahead, the claim at a free booth (queued again in its old place), the
call not claimed in time (no-show).
A refused call raises ``Refused`` with the code the queue must answer. No I/O, no clock: every
call takes ``now`` (ms).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.oracle.presence import after_offer_timeout, manual_switch_refusal
from tests.oracle.routing import ModelAgent, ModelSession, QueueModel, lane_for
from window_server.domain.presence import Presence
from window_server.domain.routing import Lane, PoolEntry
from window_server.domain.session import ENDED_STATES, TRANSITIONS, Action, State, next_state
from window_server.queue.store import QueueTiming

P, S, A = Presence, State, Action


class Refused(Exception):  # noqa: N818 - it is the answer, not a failure of the oracle
    """The queue must refuse this call with ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Transfer:
    src: str  # the specialist handing the session on (held in reserve until it resolves)
    to_agent: str
    to_centre: str
    mode: str
    deadline: int


@dataclass
class Session(ModelSession):
    booth: str = ""
    state: State = S.WAITING
    agent: str = ""
    offer_agent: str = ""
    offer_deadline: int = 0
    offer_kind: str = ""  # "queue" | "transfer" | ""
    lost: set[str] = field(default_factory=set)  # parties whose media is gone
    grace_until: int | None = None
    xfer: Transfer | None = None
    seated: bool = False  # sat down with a slip: out of the queue, keeping its score (hall.lua)
    call_deadline: int | None = None  # called back: claimed at a booth by then, or no-show


@dataclass
class Agent(ModelAgent):
    centre: str = ""
    status: Presence = P.OFFLINE
    misses: int = 0
    session: str = ""
    reserve: str = ""
    offer: str = ""
    heartbeat: int | None = None
    wrap_until: int | None = None


class QueueOracle:
    """Sessions, specialists and their timers; what every queue call does to them."""

    def __init__(self, timing: QueueTiming, centres: Mapping[str, tuple[str, ...]]) -> None:
        self.t = timing
        self.centres = centres  # centre -> the regions it serves (what the service checks)
        self.router = QueueModel(timing.widen_ms)
        self.sessions: dict[str, Session] = {}
        self.agents: dict[str, Agent] = {}
        self.centre_transfers: dict[str, dict[str, int]] = {}  # centre -> sid -> queued at
        self.seen: Counter[str] = Counter()  # what happened, to show a run exercised the rules

    # --- small pieces --------------------------------------------------------------------

    def _move(self, s: Session, act: Action) -> None:
        s.state = next_state(s.state, act, s.sid)
        self.seen[act.value] += 1

    def _presence(self, a: Agent, status: Presence, now: int) -> None:
        """The one place presence changes: pools, idle time and the wrap-up timer follow."""
        old = a.status
        self.router.available.pop(a.aid, None)
        if old is P.WRAP_UP:
            a.wrap_until = None
        if status is P.AVAILABLE:
            if old not in (P.AVAILABLE, P.OFFERED):  # idle since before this change otherwise
                a.idle_since = now
            self.router.available[a.aid] = a
        a.status = status

    def _clear_offer(self, s: Session, aid: str) -> None:
        s.offer_agent, s.offer_deadline, s.offer_kind = "", 0, ""
        if aid:
            self.agents[aid].offer = ""

    def _offer(self, s: Session, a: Agent, now: int, kind: str) -> None:
        if kind == "queue":
            del self.router.waiting[s.sid]
            self._move(s, A.OFFER)
        else:
            assert s.xfer is not None
            self.centre_transfers.get(s.xfer.to_centre, {}).pop(s.sid, None)
            self.seen["transfer_offer"] += 1
        s.offer_agent, s.offer_deadline, s.offer_kind = a.aid, now + self.t.offer_ms, kind
        a.offer = s.sid
        self._presence(a, P.OFFERED, now)

    @staticmethod
    def _can_serve(a: Agent, s: Session) -> bool:
        return s.lang in a.langs and any(e.region == s.region for e in a.pool)

    def _match_session(self, s: Session, now: int) -> str | None:
        if s.state is not S.WAITING:
            return None
        aid = self.router.best_agent_for(s.sid, now)
        if aid:
            self._offer(s, self.agents[aid], now, "queue")
        return aid

    def _match_agent(self, aid: str, now: int) -> str | None:
        """An available specialist: the first transfer waiting for their centre, else the queue."""
        a = self.agents[aid]
        if a.status is not P.AVAILABLE:
            return None
        waiting = self.centre_transfers.get(a.centre, {})
        for sid in sorted(waiting, key=lambda k: (waiting[k], k)):
            s = self.sessions[sid]
            if self._can_serve(a, s) and s.declined.get(aid, -1) <= now:
                self._offer(s, a, now, "transfer")
                return sid
        best = self.router.best_session_for(aid, now)
        if best:
            self._offer(self.sessions[best], a, now, "queue")
        return best

    def _enqueue(self, s: Session, lane: Lane, now: int) -> str | None:
        s.lane = lane
        s.offer_agent, s.offer_deadline, s.offer_kind = "", 0, ""
        self.router.waiting[s.sid] = s
        return self._match_session(s, now)

    def _start_wrap_up(self, a: Agent, now: int) -> None:
        self._presence(a, P.WRAP_UP, now)
        a.session = a.reserve = ""
        if self.t.wrap_ms > 0:
            a.wrap_until = now + self.t.wrap_ms
        else:
            self._presence(a, P.AVAILABLE, now)
            self._match_agent(a.aid, now)

    def _end_transfer(self, s: Session) -> tuple[Transfer, str, str]:
        x, target, kind = s.xfer, s.offer_agent, s.offer_kind
        assert x is not None
        self.centre_transfers.get(x.to_centre, {}).pop(s.sid, None)
        if kind == "transfer":
            self._clear_offer(s, target)
        s.xfer = None
        return x, target, kind

    def _transfer_returned(self, s: Session, act: Action, now: int) -> tuple[str, str]:
        x, target, kind = self._end_transfer(s)
        self._move(s, act)
        src = self.agents[x.src]
        src.reserve, src.session = "", s.sid
        if src.status is not P.OFFLINE:
            self._presence(src, P.IN_SERVICE, now)
        return target, kind

    def _free_target(self, target: str, kind: str, now: int) -> None:
        """A transfer ended while offered to ``target``: they are available again."""
        if kind == "transfer" and target:
            self._presence(self.agents[target], P.AVAILABLE, now)
            self._match_agent(target, now)

    def _media_lost(self, s: Session, party: str, now: int) -> None:
        if s.state is S.TRANSFERRING:
            self._free_target(*self._transfer_returned(s, A.TRANSFER_DECLINE, now), now)
        s.lost.add(party)
        self._move(s, A.MEDIA_LOST)
        s.grace_until = now + self.t.grace_ms

    def _agent_lost(self, a: Agent, now: int) -> None:
        if a.status is P.OFFLINE:
            return
        if a.status is P.OFFERED and a.offer:
            s = self.sessions[a.offer]
            kind = s.offer_kind
            self._clear_offer(s, a.aid)
            self._presence(a, P.OFFLINE, now)
            if kind == "transfer":
                self._transfer_returned(s, A.TRANSFER_DECLINE, now)
            else:
                self._move(s, A.OFFER_LOST)
                self._enqueue(s, s.lane, now)
        elif a.session:
            s = self.sessions[a.session]
            self._presence(a, P.OFFLINE, now)
            if s.state in (S.IN_SERVICE, S.TRANSFERRING):
                self._media_lost(s, "agent", now)
            elif s.state is S.RECONNECTING:
                s.lost.add("agent")
        else:
            self._presence(a, P.OFFLINE, now)
        a.heartbeat = None

    def _offer_refused(self, s: Session, aid: str, act: Action, now: int) -> None:
        kind = s.offer_kind
        self._clear_offer(s, aid)
        s.declined[aid] = now + self.t.decline_memory_ms
        a = self.agents[aid]
        if act is A.OFFER_TIMEOUT:
            a.misses += 1
            self._presence(a, after_offer_timeout(a.misses), now)
        else:
            a.misses = 0
            self._presence(a, P.AVAILABLE, now)
        if kind == "transfer":
            self._transfer_returned(s, A.TRANSFER_TIMEOUT if act is A.OFFER_TIMEOUT else A.TRANSFER_DECLINE, now)
        else:
            self._move(s, act)
            self._enqueue(s, s.lane, now)
        self._match_agent(aid, now)

    def _holder(self, sid: str, aid: str) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise Refused("unknown_session")
        if s.agent != aid:
            raise Refused("not_your_session")
        return s

    def _check(self, s: Session, act: Action) -> None:
        if (s.state, act) not in TRANSITIONS:
            raise Refused("illegal_transition")

    # --- the calls -----------------------------------------------------------------------

    def enqueue(self, sid: str, booth: str, region: str, lang: str, priority: str, now: int) -> tuple[str, str]:
        """A ticket: queued in its lane and offered at once if someone may take it."""
        s = Session(sid, region, lang, lane_for(priority), now, booth=booth)
        self.sessions[sid] = s
        self.seen["enqueue"] += 1
        aid = self._enqueue(s, s.lane, now)
        return s.state.value, aid or ""

    def agent_login(self, aid: str, centre: str, pool: tuple[PoolEntry, ...], langs: tuple[str, ...],
                    now: int) -> None:
        a = self.agents.get(aid)
        if a is None:
            a = self.agents[aid] = Agent(aid, pool, langs, 0, centre=centre)
        a.pool, a.langs, a.centre = pool, langs, centre
        a.misses, a.heartbeat = 0, now
        if a.status is P.OFFLINE:
            self._presence(a, P.AWAY, now)

    def heartbeat(self, aid: str, now: int) -> None:
        a = self.agents[aid]
        if a.status is P.OFFLINE:
            raise Refused("signed_out")
        a.heartbeat = now

    def presence(self, aid: str, status: Presence, now: int) -> str:
        """A hand switch; returns the session offered at once, if any."""
        a = self.agents.get(aid)
        if a is None:
            raise Refused("unknown_agent")
        if code := manual_switch_refusal(a.status, session=a.session, reserve=a.reserve):
            raise Refused(code)
        a.misses = 0
        self._presence(a, status, now)
        return self._match_agent(aid, now) or ""

    def logout(self, aid: str, now: int) -> None:
        self._agent_lost(self.agents[aid], now)

    def accept(self, aid: str, sid: str, now: int) -> None:
        s, a = self.sessions[sid], self.agents[aid]
        assert s.offer_agent == aid and now <= s.offer_deadline, "the harness accepts open offers only"
        if s.offer_kind == "transfer":
            x, _target, _kind = self._end_transfer(s)
            s.agent, a.session, a.offer = aid, sid, ""
            self._move(s, A.TRANSFER_ACCEPT)
            self._presence(a, P.IN_SERVICE, now)
            self._start_wrap_up(self.agents[x.src], now)
            return
        self._clear_offer(s, aid)
        s.agent, a.session, a.misses = aid, sid, 0
        s.declined.clear()
        self._move(s, A.ACCEPT)
        self._presence(a, P.IN_SERVICE, now)

    def decline(self, aid: str, sid: str, now: int) -> None:
        s = self.sessions[sid]
        assert s.offer_agent == aid, "the harness declines open offers only"
        self._offer_refused(s, aid, A.DECLINE, now)

    def transfer(self, aid: str, sid: str, *, mode: str, to_agent: str = "", to_centre: str = "",
                 now: int) -> str:
        """Hand a held session on; returns who it is offered to at once ("" if nobody yet)."""
        s = self.sessions[sid]
        if to_centre and s.region not in self.centres[to_centre]:
            raise Refused("centre_not_authorised")  # the service's check, before the queue's
        s = self._holder(sid, aid)
        self._check(s, A.TRANSFER)
        target = self.agents.get(to_agent) if to_agent else None
        if to_agent:
            if to_agent == aid:
                raise Refused("invalid_target")
            if target is None or target.status is not P.AVAILABLE:
                raise Refused("target_unavailable")
            if not self._can_serve(target, s):
                raise Refused("target_not_authorised")
        s.xfer = Transfer(aid, to_agent, to_centre, mode, now + self.t.transfer_ms)
        self._move(s, A.TRANSFER)
        src = self.agents[aid]
        src.reserve = sid
        if mode == "cold":
            self._presence(src, P.WRAP_UP, now)
        if target is not None:
            self._offer(s, target, now, "transfer")
        else:
            self.centre_transfers.setdefault(to_centre, {})[sid] = now
            free = sorted((a for a in self.agents.values() if a.status is P.AVAILABLE and a.centre == to_centre),
                          key=lambda a: (a.idle_since, a.aid))
            for a in free:
                if self._match_agent(a.aid, now) == sid:
                    break
        return s.offer_agent

    def complete(self, aid: str, sid: str, now: int) -> None:
        s = self._holder(sid, aid)
        self._check(s, A.COMPLETE)
        self._move(s, A.COMPLETE)
        self._start_wrap_up(self.agents[aid], now)

    def hang_up(self, sid: str, booth: str, now: int) -> None:
        """The citizen ends the call (issue 18, conversation.lua): completed with no outcome; a
        transfer in flight ends (its receiver is free again); the holder goes to wrap-up."""
        s = self.sessions[sid]
        if s.booth != booth:
            raise Refused("not_your_session")
        self._check(s, A.HANG_UP)
        aid, target, kind = s.agent, "", ""
        if s.state is S.TRANSFERRING:
            x, target, kind = self._end_transfer(s)
            aid = x.src
        s.grace_until = None
        s.lost.clear()
        self._move(s, A.HANG_UP)
        self._free_target(target, kind, now)
        if aid:
            a = self.agents[aid]
            if a.status is not P.OFFLINE:
                self._start_wrap_up(a, now)
            else:
                a.session = a.reserve = ""

    def leave(self, sid: str, now: int) -> None:
        s = self.sessions[sid]
        self._check(s, A.LEAVE)
        was_offered = s.state is S.OFFERED
        aid = s.offer_agent
        if was_offered:
            self._clear_offer(s, aid)
        else:
            del self.router.waiting[sid]
        self._move(s, A.LEAVE)
        if was_offered:
            self._presence(self.agents[aid], P.AVAILABLE, now)
            self._match_agent(aid, now)

    def no_show(self, aid: str, sid: str, now: int) -> None:
        """Called, but nobody at the booth: the specialist holding or offered it is free again."""
        s = self.sessions[sid]
        if aid not in (s.agent, s.offer_agent):
            raise Refused("not_your_session")
        self._check(s, A.NO_SHOW)
        if s.state is S.OFFERED:
            self._clear_offer(s, aid)
        elif s.state is S.WAITING:
            del self.router.waiting[sid]
        self._move(s, A.NO_SHOW)
        a = self.agents[aid]
        a.session = ""
        self._presence(a, P.AVAILABLE, now)
        self._match_agent(aid, now)

    def media(self, sid: str, party: str, what: str, now: int) -> None:
        s = self.sessions[sid]
        if what == "lost":
            if s.state is S.RECONNECTING:
                s.lost.add(party)
            elif s.state in (S.IN_SERVICE, S.TRANSFERRING):
                self._media_lost(s, party, now)
            return
        if s.state is not S.RECONNECTING:
            return
        s.lost.discard(party)
        if party == "agent":
            a = self.agents[s.agent]
            self._presence(a, P.IN_SERVICE, now)
            a.heartbeat = now
        if not s.lost:
            s.grace_until = None
            self._move(s, A.MEDIA_BACK)

    # --- the hall (hall.lua) -----------------------------------------------------------------------

    def sit_down(self, sid: str, booth: str, now: int) -> None:
        """The booth's waiting citizen sits down: out of the queue (keeping its score), booth free."""
        s = self.sessions[sid]
        if s.booth != booth:
            raise Refused("not_your_session")
        if s.state is not S.WAITING or sid not in self.router.waiting:
            raise Refused("not_waiting")
        del self.router.waiting[sid]
        s.booth, s.seated, s.call_deadline = "", True, None
        self.seen["sit_down"] += 1

    def claim(self, sid: str, booth: str, now: int) -> str | None:
        """A free booth claims a called ticket: it is that booth's, queued again in its old place."""
        s = self.sessions[sid]
        if s.state is not S.WAITING or s.call_deadline is None:
            raise Refused("not_called")
        if any(x.booth == booth and x.state not in ENDED_STATES for x in self.sessions.values()):
            raise Refused("booth_busy")
        s.booth, s.seated, s.call_deadline = booth, False, None
        self.seen["claim"] += 1
        return self._enqueue(s, s.lane, now)

    def _hall_tick(self, now: int) -> None:
        """Seated tickets with fewer than call_ahead ahead in their queue are called; calls past due end."""
        for s in sorted((x for x in self.sessions.values() if x.seated and x.call_deadline is None),
                        key=lambda x: (x.score, x.sid)):
            ahead = sum(1 for w in self.router.waiting.values()
                        if (w.region, w.lang) == (s.region, s.lang) and (w.score, w.sid) < (s.score, s.sid))
            if ahead < self.t.call_ahead:
                s.call_deadline = now + self.t.call_back_ms
                self.seen["called"] += 1
        due = [x for x in self.sessions.values() if x.call_deadline is not None and x.call_deadline <= now]
        for s in sorted(due, key=lambda x: (x.call_deadline or 0, x.sid)):
            s.seated, s.call_deadline = False, None
            if s.state is S.WAITING:
                self._move(s, A.NO_SHOW)
                self.seen["hall_no_show"] += 1

    def _grace_over(self, s: Session, now: int) -> None:
        if s.state is not S.RECONNECTING:
            return
        booth_lost, aid = "booth" in s.lost, s.agent
        s.lost.clear()
        if booth_lost:
            self._move(s, A.INTERRUPT)
            if aid and self.agents[aid].status is not P.OFFLINE:
                self._start_wrap_up(self.agents[aid], now)
            elif aid:
                self.agents[aid].session = ""
        else:
            s.agent = ""
            if aid:
                self.agents[aid].session = ""
            self._move(s, A.REQUEUE)
            self._enqueue(s, Lane.RETURNED, now)

    def tick(self, now: int) -> None:
        """Everything due by ``now``, in the queue's order: the dead first, then offers, rematch,
        grace, wrap-up, transfer deadlines."""
        lost = [a for a in self.agents.values() if a.heartbeat is not None
                and a.heartbeat <= now - self.t.heartbeat_ttl_ms]
        for a in sorted(lost, key=lambda a: (a.heartbeat, a.aid)):
            self.seen["heartbeat_lost"] += 1
            self._agent_lost(a, now)
        due = [s for s in self.sessions.values() if s.offer_kind and s.offer_deadline <= now]
        for s in sorted(due, key=lambda s: (s.offer_deadline, s.sid)):
            self._offer_refused(s, s.offer_agent, A.OFFER_TIMEOUT, now)
        # widening and ended decline memories: the queue schedules exactly these moments; here
        # every waiting session is tried, so a moment it forgot to schedule shows as a difference
        for sid in sorted(self.router.waiting, key=lambda k: (self.sessions[k].score, k)):
            self._match_session(self.sessions[sid], now)
        graced = [s for s in self.sessions.values() if s.grace_until is not None and s.grace_until <= now]
        for s in sorted(graced, key=lambda s: (s.grace_until, s.sid)):
            s.grace_until = None
            self._grace_over(s, now)
        wrapped = [a for a in self.agents.values() if a.wrap_until is not None and a.wrap_until <= now]
        for a in sorted(wrapped, key=lambda a: (a.wrap_until, a.aid)):
            a.wrap_until = None
            if a.status is P.WRAP_UP and not a.reserve:
                self.seen["wrap_up_timer"] += 1
                self._presence(a, P.AVAILABLE, now)
                self._match_agent(a.aid, now)
        expired = [s for s in self.sessions.values() if s.xfer is not None and s.xfer.deadline <= now]
        for s in sorted(expired, key=lambda s: (s.xfer.deadline if s.xfer else 0, s.sid)):
            if s.state is S.TRANSFERRING:
                self._free_target(*self._transfer_returned(s, A.TRANSFER_TIMEOUT, now), now)
        self._hall_tick(now)

