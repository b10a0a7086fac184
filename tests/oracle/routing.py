"""The routing policy as a plain model over dicts: who is offered which waiting session.

- Eligibility: a session for a matter of home region R may go to an available specialist
  whose centre serves R and who speaks the session's language.
- Widening: for the first ``widen_ms`` only the region's own centres (those located inside R);
  after that every partner centre authorised for R as well.
- Order among waiting sessions: returned sessions (their specialist was lost) first, then the
  priority lane, then longest wait. Ties by session id.
- Choice among specialists: longest idle first. Ties by specialist id.
- A specialist who declined a session is not offered it again for ``decline_memory_ms``.

The rule's home is the Lua (``match_session``/``match_agent``); this is its oracle. The full
lifecycle around it (offers, timeouts, transfers, grace, wrap-up) is ``tests/oracle/queue.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from window_server.domain.routing import LANE_SPAN, Lane, PoolEntry, Tier
from window_server.domain.session import Priority


def lane_for(priority: Priority | str, returned: bool = False) -> Lane:
    """The lane a session waits in: returned ones first, then the priority lane."""
    if returned:
        return Lane.RETURNED
    return Lane.PRIORITY if priority else Lane.NORMAL


def queue_score(lane: Lane, enq_ms: int) -> int:
    """The waiting-queue score: lane first, then the time the session first joined."""
    return int(lane) * LANE_SPAN + enq_ms


def is_widened(enq_ms: int, now_ms: int, widen_ms: int) -> bool:
    """Whether partner centres may be offered a session that joined at ``enq_ms``."""
    return now_ms - enq_ms >= widen_ms


@dataclass
class ModelSession:
    sid: str
    region: str
    lang: str
    lane: Lane
    enq_ms: int
    declined: dict[str, int] = field(default_factory=dict)  # agent -> remembered until (ms)

    @property
    def score(self) -> int:
        return queue_score(self.lane, self.enq_ms)


@dataclass
class ModelAgent:
    aid: str
    pool: tuple[PoolEntry, ...]
    langs: tuple[str, ...]
    idle_since: int


@dataclass(frozen=True)
class Offer:
    sid: str
    aid: str


class QueueModel:
    """Waiting sessions and available specialists, and the policy that pairs them."""

    def __init__(self, widen_ms: int) -> None:
        self.widen_ms = widen_ms
        self.waiting: dict[str, ModelSession] = {}
        self.available: dict[str, ModelAgent] = {}

    def eligible(self, s: ModelSession, a: ModelAgent, now_ms: int) -> bool:
        """Whether ``a`` may be offered ``s`` now (language, region, widening, declines)."""
        if s.lang not in a.langs or s.declined.get(a.aid, -1) > now_ms:
            return False
        for entry in a.pool:
            if entry.region == s.region:
                return entry.tier is Tier.OWN or is_widened(s.enq_ms, now_ms, self.widen_ms)
        return False

    def best_agent_for(self, sid: str, now_ms: int) -> str | None:
        """The longest-idle eligible specialist for a waiting session."""
        s = self.waiting[sid]
        agents = [a for a in self.available.values() if self.eligible(s, a, now_ms)]
        return min(agents, key=lambda a: (a.idle_since, a.aid)).aid if agents else None

    def best_session_for(self, aid: str, now_ms: int) -> str | None:
        """The first waiting session (lane, then wait) a specialist is eligible for."""
        a = self.available[aid]
        sessions = [s for s in self.waiting.values() if self.eligible(s, a, now_ms)]
        return min(sessions, key=lambda s: (s.score, s.sid)).sid if sessions else None

    def offer(self, sid: str, aid: str) -> Offer:
        """Reserve the pair: both leave the pools."""
        del self.waiting[sid]
        del self.available[aid]
        return Offer(sid, aid)

    def add_session(self, s: ModelSession, now_ms: int) -> Offer | None:
        """A session joins (or rejoins) the queue; offer it at once if someone is free."""
        self.waiting[s.sid] = s
        aid = self.best_agent_for(s.sid, now_ms)
        return self.offer(s.sid, aid) if aid else None

    def add_agent(self, a: ModelAgent, now_ms: int) -> Offer | None:
        """A specialist becomes available; offer them the first session they may take."""
        self.available[a.aid] = a
        sid = self.best_session_for(a.aid, now_ms)
        return self.offer(sid, a.aid) if sid else None

    def rematch(self, now_ms: int) -> list[Offer]:
        """Pair everything that can be paired now (after widening or a decline expires)."""
        offers = []
        for sid in sorted(self.waiting, key=lambda k: (self.waiting[k].score, k)):
            if sid in self.waiting and (aid := self.best_agent_for(sid, now_ms)):
                offers.append(self.offer(sid, aid))
        return offers
