"""The signaling hub: connections, the door (auth, budget, validation), pushes and the relay.

One ``Hub`` per node. It owns the per-connection state of the sockets connected to this node
(principal, rate budget); everything shared lives in Redis, and emits to rooms travel to every
node through the socket.io Redis manager. Rooms are named for identities, not sockets, so a
client that reconnects to any node receives what is addressed to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.budget import LogThrottle
from signaling.bus import WatchedRedisManager
from window_server.accounts.revocation import ConnectGate
from window_server.domain import errors
from window_server.domain.auth import Principal, account_of, may_open, read_connect_token
from window_server.domain.routing import estimate_wait_s
from window_server.domain.session import HELD_STATES
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore
from window_server.settings import Settings
from window_server.store.keys import key

if TYPE_CHECKING:  # signaling/dashboard.py imports this module
    from signaling.dashboard import Viewers

log = logging.getLogger(__name__)

Handler = Callable[["Conn", dict[str, Any]], Awaitable[dict[str, Any] | None]]

#: Event names socket.io keeps for itself: from a client they are unknown events and strikes,
#: never a call of the connect or disconnect handler (signaling/server.py routes them here).
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})

# Compare-and-delete: only the socket that is still a subject's current one may end it.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Compare-and-set ('' = absent): a socket claims its subject again after a Redis outage.
_REPLACE = ("if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) "
            "return 1 end return 0")
#: The connection-key role of each namespace whose sockets claim their subject.
_CLAIM_ROLES = {P.BOOTH: "booth", P.AGENT: "agent", P.DEVICE: "device"}


class TokenBucket:
    """A per-connection message budget: ``rate`` per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Conn:
    """One authenticated socket on this node."""

    sid: str
    namespace: str
    principal: Principal
    bucket: TokenBucket
    strikes: int = 0
    rooms: set[str] = field(default_factory=set)
    dropping: bool = False
    """Its disconnect has been started (strikes): warned about once."""
    noise: LogThrottle | None = None
    """Log lines this client's input causes, throttled (made at the first)."""
    gen: int = 0
    """The account generation of the token it connected with (a revocation bumps it)."""
    login: str = ""
    """The web login the token came from (staff); a logout ends its sockets."""

    @property
    def subject(self) -> str:
        return self.principal.subject

    @property
    def tag(self) -> str:
        return f"{self.principal.role}:{self.principal.subject}"


class Hub:
    """Socket.io handlers of one node, bound to the queue service and the store."""

    #: Rate-limited messages a connection may send before it is disconnected.
    MAX_STRIKES = 20

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        settings: Settings,
        queue: QueueService,
        redis: Redis,
        secret: Callable[[], Awaitable[bytes]],
        node_id: str,
    ) -> None:
        self.sio = sio
        self.settings = settings
        self.queue = queue
        self.store: QueueStore = queue.store
        self.redis = redis
        self.secret = secret
        self.node_id = node_id
        self.conns: dict[tuple[str, str], Conn] = {}
        self.handlers: dict[str, dict[str, Handler]] = {ns: {} for ns in P.NAMESPACES}
        self.on_connect: dict[str, Callable[[Conn], Awaitable[None]]] = {}
        self.on_disconnect: dict[str, Callable[[Conn], Awaitable[None]]] = {}
        self.pending_auth: dict[str, asyncio.TimerHandle] = {}
        self._release = redis.register_script(_RELEASE)
        self.gate = ConnectGate(redis, demo=settings.demo)
        self._replace = redis.register_script(_REPLACE)
        self._positions = PositionPusher(self)
        self._disconnects = asyncio.Semaphore(16)
        # hooks set by window_server/dashboard/setup.py
        self.dashboard_changed: Callable[[tuple[str, ...]], None] | None = None  # coalesced pushes
        self.dashboard_viewers: Viewers | None = None  # which dashboard rooms are watched, chain-wide
        self.error_ack: Callable[[str, str], None] | None = None  # counts error acks for /metrics
        for ns in P.NAMESPACES:
            sio.on("connect", self._connect_handler(ns), namespace=ns)
            sio.on("disconnect", self._disconnect_handler(ns), namespace=ns)
            sio.on("*", self._event_handler(ns), namespace=ns)

    # --- registration ------------------------------------------------------------------------

    def handle(self, namespace: str, event: str) -> Callable[[Handler], Handler]:
        """Register the handler of a client event; the spec must exist in the protocol."""
        P.event(namespace, event)  # a handler without a spec is a bug: fail at start

        def deco(fn: Handler) -> Handler:
            self.handlers[namespace][event] = fn
            return fn

        return deco

    # --- the door ------------------------------------------------------------------------------

    def watch_auth_deadline(self, eio_sid: str) -> None:
        """Drop an engine.io connection that has not authenticated a namespace in time."""
        loop = asyncio.get_running_loop()
        self.pending_auth[eio_sid] = loop.call_later(
            self.settings.auth_deadline_seconds, lambda: loop.create_task(self._drop_unauthenticated(eio_sid))
        )

    def forget_eio(self, eio_sid: str) -> None:
        timer = self.pending_auth.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()

    async def _drop_unauthenticated(self, eio_sid: str) -> None:
        if self.pending_auth.pop(eio_sid, None) is not None:
            log.info("dropping connection %s: no authentication within %g s", eio_sid,
                     self.settings.auth_deadline_seconds)
            await self.sio.eio.disconnect(eio_sid)

    def _connect_handler(self, namespace: str) -> Callable[..., Awaitable[bool]]:
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
            token = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(token, str) or len(token) > 4096:
                raise _refuse("unauthenticated", "connect with auth {token} from a connect-token endpoint")
            now_ms = int(time.time() * 1000)
            try:
                grant = read_connect_token(await self.secret(), token, namespace, now_ms)
                # single use, and the account and login must still be what the token says
                await self.gate.admit(grant, now_ms)
            except errors.RemoteWindowError as exc:
                raise _refuse(exc.code, exc.message) from None
            except (RedisError, OSError):
                raise _refuse("unavailable", "the queue store does not answer; retrying helps") from None
            principal = grant.principal
            if not may_open(principal.role, namespace):
                raise _refuse("forbidden", f"{principal.role} may not open {namespace}")
            conn = Conn(sid, namespace, principal,
                        TokenBucket(self.settings.rate_limit_per_second, self.settings.rate_limit_burst),
                        gen=grant.gen, login=grant.login)
            self.conns[(namespace, sid)] = conn
            self.forget_eio(self.sio.manager.eio_sid_from_sid(sid, namespace))
            try:
                hook = self.on_connect.get(namespace)
                if hook is not None:
                    await hook(conn)
            except (RedisError, OSError):
                self.conns.pop((namespace, sid), None)
                raise _refuse("unavailable", "the queue store does not answer; retrying helps") from None
            log.info("connected %s %s conn=%s", namespace, conn.tag, sid)
            return True

        return connect

    def _disconnect_handler(self, namespace: str) -> Callable[..., Awaitable[None]]:
        async def disconnect(sid: str, reason: Any = None) -> None:
            conn = self.conns.pop((namespace, sid), None)
            if conn is None:
                return
            log.info("disconnected %s %s conn=%s (%s)", namespace, conn.tag, sid, reason)
            hook = self.on_disconnect.get(namespace)
            if hook is not None:
                try:
                    async with self._disconnects:  # a mass disconnect queues here, not in the Redis pool
                        await hook(conn)
                except Exception:
                    log.exception("disconnect hook failed for %s conn=%s", conn.tag, sid)

        return disconnect

    def _event_handler(self, namespace: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def on_event(*args: Any) -> dict[str, Any]:
            # python-socketio calls this catch-all with (event, sid, *data), but an event named
            # "*" itself with (sid, *data): then the first argument is a connected socket.
            if (len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str)
                    and (namespace, args[0]) not in self.conns):
                reply = await self.dispatch(namespace, args[0], args[1], args[2:])
            else:
                reply = _err("unknown_event", f"no event '*' in {namespace}")
            # socket.io error acks, counted for /metrics
            if "error" in reply and self.error_ack is not None:
                self.error_ack(namespace, str(reply["error"].get("code", "")))
            return reply

        return on_event

    async def dispatch(self, namespace: str, event: str, sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        """Budget, validate, authorise and run one client event; always answer in the one shape."""
        conn = self.conns.get((namespace, sid))
        if conn is None:
            return _err("unauthenticated", "this socket is not authenticated")
        if not conn.bucket.take():
            self._strike(conn, "rate limit exceeded repeatedly")
            return _err("rate_limited", "too many messages; slow down")
        handler = self.handlers[namespace].get(event)
        if handler is None:
            if event in RESERVED_EVENTS:  # no client library sends these: a probe
                self._strike(conn, "reserved event names")
            return _err("unknown_event", f"no event {str(event)[:64]!r} in {namespace}")
        if len(args) > 1:
            return _err("invalid_input", "send one object per event")
        try:
            payload = P.parse(P.event(namespace, event), args[0] if args else None)
            result = await handler(conn, payload)
            return P.ok(result)
        except errors.RemoteWindowError as exc:
            return exc.to_payload()
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable during %s %s: %s", namespace, event, type(exc).__name__)
            return _err("unavailable", "the queue store does not answer; try again shortly")
        except Exception:
            if conn.noise is None:
                conn.noise = LogThrottle(log, f"{conn.tag} conn={sid}")
            conn.noise.log(logging.ERROR, "unexpected error in %s %s from %s", namespace, event, conn.tag,
                           exc_info=True)
            return _err("internal_error", "something went wrong on our side; it has been logged")

    async def sweep_revoked(self) -> None:
        """End this node's sockets whose account or login was revoked after their token was issued.

        One MGET of the stamps per sweep; the disconnect runs the namespace's normal hooks, so an
        offer goes to someone else and a served session goes to reconnecting, as for a lost socket.
        """
        conns = list(self.conns.values())
        if not conns:
            return
        try:
            ended = await self.gate.revoked((account_of(c.principal), c.login, c.gen) for c in conns)
        except (RedisError, OSError):  # an outage is reported by the heartbeats; catch up after it
            log.debug("revocation sweep skipped: Redis does not answer")
            return
        for i in sorted(ended):
            conn = conns[i]
            if self.conns.get((conn.namespace, conn.sid)) is not conn:
                continue  # gone meanwhile
            log.info("ending %s %s conn=%s: its account or login was revoked", conn.namespace, conn.tag, conn.sid)
            await self.sio.disconnect(conn.sid, namespace=conn.namespace)

    def _strike(self, conn: Conn, why: str) -> None:
        """Count a misdeed; past MAX_STRIKES close the socket's engine.io connection (hooks run)."""
        conn.strikes += 1
        if conn.strikes > self.MAX_STRIKES and not conn.dropping:
            conn.dropping = True
            log.warning("disconnecting %s conn=%s: %s", conn.tag, conn.sid, why)
            self.sio.drop(self.sio.manager.eio_sid_from_sid(conn.sid, conn.namespace), why)  # signaling/server.py

    # --- connection ownership ----------------------------------------------------------------

    async def claim(self, conn: Conn, role: str) -> None:
        """Make this socket the subject's current one (a reload or another tab replaces it)."""
        await self.redis.set(key("connection", role=role, subject=conn.subject), f"{self.node_id}:{conn.sid}")

    async def release(self, conn: Conn, role: str) -> bool:
        """End this socket's claim; False when a newer socket of the subject has taken over."""
        done = await self._release(keys=[key("connection", role=role, subject=conn.subject)],
                                   args=[f"{self.node_id}:{conn.sid}"])
        return bool(done)

    async def enter(self, conn: Conn, room: str) -> None:
        await self.sio.enter_room(conn.sid, room, namespace=conn.namespace)
        conn.rooms.add(room)

    # --- pushes ----------------------------------------------------------------------------------

    async def emit(self, event: str, data: dict[str, Any], namespace: str, room: str) -> None:
        await self.sio.emit(event, data, namespace=namespace, room=room)

    async def push(self, fx: list[dict[str, Any]]) -> None:
        """Deliver the effects of a queue change to whoever must see them, on any node."""
        for e in fx:
            kind = e.get("kind")
            if kind == "session":
                await self._push_session(e)
            elif kind == "offer":
                await self.emit("offer", P.offer_payload(e), P.AGENT, f"agent:{e['agent']}")
            elif kind == "presence":
                await self.emit("presence", {"status": e["status"]}, P.AGENT, f"agent:{e['agent']}")
                self._dashboards(e.get("centre", ""))
            elif kind == "queue":
                self._positions.changed(e["region"], e["lang"])
                await self.emit("queue_changed", {"region": e["region"]}, P.AGENT, f"pool:{e['region']}")
            elif kind == "widen":
                sid = e["sid"]
                s = await self.store.session(sid)
                if s.get("qkey"):
                    self._positions.changed(s["region"], s["lang"])

    async def _push_session(self, e: dict[str, Any]) -> None:
        payload = {k: e[k] for k in ("sid", "state", "act", "ticket", "agent", "agent_centre") if k in e}
        for k in ("why", "to_agent", "to_centre", "from_agent", "outcome", "party", "mode"):
            if e.get(k):
                payload[k] = e[k]
        booth = e.get("booth", "")
        if booth:  # never the specialists' words (a transfer's or decline's reason) to the booth side
            public = {k: v for k, v in payload.items() if k != "why"}
            await self.emit("session_state", public, P.BOOTH, f"booth:{booth}")
            await self.emit("session_state", public, P.DEVICE, f"device:{booth}")
        for aid in {e.get("agent"), e.get("from_agent"), e.get("to_agent")} - {None, ""}:
            await self.emit("session_state", payload, P.AGENT, f"agent:{aid}")
        self._dashboards(e.get("centre", ""), e.get("agent_centre", ""))

    def _dashboards(self, *centres: str) -> None:
        """Mark the centres' dashboard rooms changed: signaling/dashboard.py pushes them coalesced."""
        if self.dashboard_changed is not None:
            self.dashboard_changed(tuple(c for c in centres if c))

    async def position_of(self, sid: str) -> dict[str, Any]:
        """The booth's live place in the queue, as pushed in queue_position."""
        pos = await self.store.position(sid, self.settings.default_aht_seconds)
        s = await self.redis.hget(key("session", sid=sid), "wide")
        return {"sid": sid, "position": pos["position"], "ahead": pos["ahead"], "eta_s": pos["eta_s"],
                "wide": s == "1"}

    # --- relay -------------------------------------------------------------------------------------

    async def session_members(self, sid: str) -> dict[str, str]:
        fields = ["state", "agent", "booth", "offer_agent"]
        values = await self.redis.hmget(key("session", sid=sid), fields)
        if values[0] is None:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        return dict(zip(fields, (v or "" for v in values), strict=True))

    async def relay(self, conn: Conn, p: dict[str, Any], me: str) -> dict[str, Any]:
        """Forward SDP/ICE only between members of one held session; log no SDP above DEBUG."""
        sid, to = p["sid"], p["to"]
        s = await self.session_members(sid)
        if s["state"] not in {x.value for x in HELD_STATES}:
            raise errors.Forbidden(f"session {sid} is {s['state']}: no media now", code="not_member", field="sid")
        if me == "agent":
            member = s["agent"] == conn.subject and to in ("booth", "device")
        else:  # the booth page and its device agent both speak only to the specialist
            member = s["booth"] == conn.subject and to == "agent"
        if not member:
            raise errors.Forbidden(f"you are not {to}'s peer in session {sid}", code="not_member", field="sid")
        out = {"sid": sid, "from": me, "kind": p["kind"], "data": p["data"], "pc": p["pc"] or "call"}
        if to == "agent":
            await self.emit("signal", out, P.AGENT, f"agent:{s['agent']}")
        elif to == "booth":
            await self.emit("signal", out, P.BOOTH, f"booth:{s['booth']}")
        else:
            await self.emit("signal", out, P.DEVICE, f"device:{s['booth']}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("relay %s %s->%s session=%s pc=%s data=%s", p["kind"], me, to, sid, out["pc"], p.get("data"))
        return {}

    # --- liveness ----------------------------------------------------------------------------------

    async def heartbeat_all(self) -> None:
        """Refresh the heartbeats of this node's specialists and booths (a dead node stops them).

        While Redis fails, the failure marks an outage: when Redis answers again the ticker has
        this node re-assert its parties (``reassert``) before any heartbeat is judged.
        """
        try:
            await self._beat()
        except (RedisError, OSError) as exc:
            if self.store.outage.seen():
                log.warning("heartbeats: Redis unavailable (%s); this node re-asserts its parties when it "
                            "answers again", type(exc).__name__)

    async def reassert(self) -> None:
        """After a Redis outage, write again what this node's connected parties stand for.

        Their claims (``rw:conn:*``: Redis restarted from its AOF may have lost the last second
        of writes), their heartbeats (a specialist the queue thought gone signs in again) and,
        for a booth or specialist whose session waits for it in ``reconnecting``, its media
        ``back``, as its reconnect would have done. Redis failing again propagates.
        """
        await self._hear_bus()  # what follows pushes through it
        conns = list(self.conns.values())
        for conn in conns:
            if role := _CLAIM_ROLES.get(conn.namespace):
                await self._reclaim(conn, role)
        await self._beat()
        seen: set[tuple[str, str]] = set()
        for conn in conns:
            if (conn.namespace in (P.BOOTH, P.AGENT) and (conn.namespace, conn.subject) not in seen
                    and (conn.namespace, conn.sid) in self.conns):  # still connected
                seen.add((conn.namespace, conn.subject))
                await self._media_back(conn)
        log.info("re-asserted %d connections of this node after a Redis outage", len(conns))

    async def _hear_bus(self) -> None:
        """Resubscribe to the cross-node bus now if it is still deaf from the outage.

        Its listener retries with a growing pause and the watchdog probes every few seconds;
        pushes made before either heals would not reach this node's own clients.
        """
        manager = self.sio.manager
        if isinstance(manager, WatchedRedisManager) and not await manager.probe(within=1.0):
            log.info("cross-node bus: not heard after the Redis outage; resubscribing now")
            await manager.resubscribe()

    async def _reclaim(self, conn: Conn, role: str) -> None:
        """Claim the subject for this socket again unless another socket has claimed it since."""
        k = key("connection", role=role, subject=conn.subject)
        mine = f"{self.node_id}:{conn.sid}"
        current: str = await self.redis.get(k) or ""
        if current == mine:
            return
        node, _, other = current.partition(":")
        if current and (node != self.node_id or (conn.namespace, other) in self.conns):
            return  # a newer socket, here or on another node, owns the subject now
        await self._replace(keys=[k], args=[current, mine])

    async def _media_back(self, conn: Conn) -> None:
        if conn.namespace == P.BOOTH:
            party, by, sid = "booth", f"booth:{conn.subject}", await self.store.booth_session(conn.subject)
        else:
            party, by, sid = "agent", conn.subject, (await self.store.agent(conn.subject)).get("session")
        if not sid:
            return
        s = await self.store.session(sid)
        if s.get("state") != "reconnecting" or not s.get(f"lost_{party}"):
            return
        if party == "agent" and s.get("agent") != conn.subject:
            return
        try:
            res = await self.store.media(sid, party, "back", by=by)
        except errors.RemoteWindowError as exc:
            log.warning("re-assert: media of %s in session=%s not back: %s", conn.tag, sid, exc.code)
            return
        await self.push(res.fx)

    async def _beat(self) -> None:
        agents = {c.subject: c for c in self.conns.values() if c.namespace == P.AGENT}
        booths = {c.subject for c in self.conns.values() if c.namespace == P.BOOTH}
        if booths:
            now = self.store.now_ms()
            await self.redis.zadd(key("booth_heartbeats"), {b: now for b in booths})
        for aid, conn in agents.items():
            try:
                await self.store.heartbeat(aid)
            except errors.RemoteWindowError as exc:
                if exc.code in ("signed_out", "unknown_agent"):  # the queue thought them gone: sign in again
                    res = await self.queue.agent_login(aid, conn.principal.centre, conn.principal.langs)
                    await self.push(res.fx)


class PositionPusher:
    """Coalesce queue changes: each changed queue's positions are pushed at most every 100 ms."""

    DELAY = 0.1

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.dirty: set[tuple[str, str]] = set()
        self.task: asyncio.Task[None] | None = None

    def changed(self, region: str, lang: str) -> None:
        self.dirty.add((region, lang))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(self.DELAY)
        dirty, self.dirty = self.dirty, set()
        for region, lang in sorted(dirty):
            try:
                await self._push_queue(region, lang)
            except (RedisError, OSError):
                log.warning("could not push positions of queue %s/%s", region, lang)

    async def _push_queue(self, region: str, lang: str) -> None:
        hub = self.hub
        sids: list[str] = await hub.redis.zrange(key("queue", region=region, lang=lang), 0, -1)
        if not sids:
            return
        async with hub.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hmget(key("session", sid=sid), ["booth", "wide"])
            p.scard(key("staff", region=region, lang=lang))
            p.lrange(key("recent_handling"), 0, 19)
            rows = await p.execute()
        staff, recent = int(rows[-2]), rows[-1]
        aht = (sum(int(x) for x in recent) / len(recent) / 1000) if recent else hub.settings.default_aht_seconds
        for ahead, (sid, (booth, wide)) in enumerate(zip(sids, rows[:-2], strict=True)):
            if not booth:
                continue
            eta = estimate_wait_s(aht, ahead, staff)
            await hub.emit("queue_position", {"sid": sid, "position": ahead + 1, "ahead": ahead, "eta_s": eta,
                                              "wide": wide == "1"}, P.BOOTH, f"booth:{booth}")


def _refuse(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: the client's connect_error carries {message, data: {code, message}}."""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})


def _err(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}

