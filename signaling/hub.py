"""The signaling hub: connections, the door (auth, budget, validation), emits and the relay.

One ``Hub`` per node. It owns the per-connection state of the sockets connected to this node
(principal, rate budget); everything shared lives behind injected objects (the connect gate,
the connection claims, session membership), and emits to rooms travel to every node through
the socket.io Redis manager. Rooms are named for identities, not sockets, so a client that
reconnects to any node receives what is addressed to it.

The hub is a transport: it knows no feature. Features (the queue, materials, dashboards)
register their event handlers and connect/disconnect hooks with it from their own packages;
the composition root (``window_server/app.py``) wires them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import socketio
from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.budget import LogThrottle
from signaling.bus import WatchedRedisManager
from signaling.errors import translate
from signaling.settings import SignalingSettings
from window_server.domain import errors
from window_server.domain.auth import (
    ConnectToken,
    Principal,
    account_of,
    may_open,
    read_connect_token,
)
from window_server.domain.ratelimit import TokenBucket
from window_server.domain.session import HELD_STATES

if TYPE_CHECKING:  # signaling/server.py builds the hub's server
    from signaling.server import Server

log = logging.getLogger(__name__)

Handler = Callable[["Conn", dict[str, Any]], Awaitable[dict[str, Any] | None]]
Hook = Callable[["Conn"], Awaitable[None]]

#: Event names socket.io keeps for itself: from a client they are unknown events and strikes,
#: never a call of the connect or disconnect handler (signaling/server.py routes them here).
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
_HELD = frozenset(x.value for x in HELD_STATES)


class Gate(Protocol):
    """The account side of a connect: single-use tokens, live accounts, revocations."""

    async def admit(self, token: ConnectToken, now_ms: int) -> None:
        """Spend the token's nonce and check its account and login; raise a domain error if refused."""

    async def revoked(self, open_sockets: Iterable[tuple[tuple[str, str], str, int]]) -> set[int]:
        """Indexes of the sockets, given as ((kind, id), login, generation), that must end."""


class Claims(Protocol):
    """Which socket is a subject's current one (``<node>:<sid>``), shared by every node."""

    async def claim(self, role: str, subject: str, owner: str) -> None:
        """Make ``owner`` the subject's current socket."""

    async def release(self, role: str, subject: str, owner: str) -> bool:
        """End ``owner``'s claim; False when another socket holds it now."""

    async def current(self, role: str, subject: str) -> str:
        """The current owner ('' when none)."""

    async def replace(self, role: str, subject: str, expected: str, owner: str) -> bool:
        """Set ``owner`` if the current owner is still ``expected`` ('' = none)."""


#: Who belongs to a session: ``{state, agent, booth, guests?}``; raises NotFound (unknown_session).
#: ``guests`` (issue 19): the session's current guests as ``"gid=username,gid=username"`` ('' for none).
Members = Callable[[str], Awaitable[Mapping[str, str]]]


def guest_members(raw: str) -> dict[str, str]:
    """The ``guests`` member field as {gid: username}."""
    out: dict[str, str] = {}
    for part in (raw or "").split(","):
        gid, _, user = part.partition("=")
        if gid and user:
            out[gid] = user
    return out


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
    """Socket.io handlers of one node: the door, per-connection state, rooms, emits and the relay."""

    #: Rate-limited messages a connection may send before it is disconnected.
    MAX_STRIKES = 20

    def __init__(
        self,
        sio: Server,
        settings: SignalingSettings,
        *,
        gate: Gate,
        claims: Claims,
        members: Members,
        secret: Callable[[], Awaitable[bytes]],
        node_id: str,
        on_error_ack: Callable[[str, str], None] | None = None,
    ) -> None:
        self.sio = sio
        self.settings = settings
        self.gate = gate
        self.claims = claims
        self.members = members
        self.secret = secret
        self.node_id = node_id
        self.on_error_ack = on_error_ack  # counts error acks (for /metrics)
        self.conns: dict[tuple[str, str], Conn] = {}
        self.handlers: dict[str, dict[str, Handler]] = {ns: {} for ns in P.NAMESPACES}
        self.on_connect: dict[str, Hook] = {}
        self.on_disconnect: dict[str, Hook] = {}
        self.pending_auth: dict[str, asyncio.TimerHandle] = {}
        self._disconnects = asyncio.Semaphore(16)
        for ns in P.NAMESPACES:
            sio.on("connect", self._connect_handler(ns), namespace=ns)
            sio.on("disconnect", self._disconnect_handler(ns), namespace=ns)
            sio.on("*", self._event_handler(ns), namespace=ns)
        sio.hub = self

    # --- registration ------------------------------------------------------------------------

    def handle(self, namespace: str, event: str) -> Callable[[Handler], Handler]:
        """Register the handler of a client event; the spec must exist in the protocol."""
        P.event(namespace, event)  # a handler without a spec is a bug: fail at start

        def deco(fn: Handler) -> Handler:
            self.handlers[namespace][event] = fn
            return fn

        return deco

    def hooks(self, namespace: str, *, connect: Hook | None = None, disconnect: Hook | None = None) -> None:
        """Register a feature's connect and disconnect hooks of a namespace (one feature per namespace)."""
        for table, hook in ((self.on_connect, connect), (self.on_disconnect, disconnect)):
            if hook is not None:
                if namespace in table:
                    raise RuntimeError(f"{namespace} has a hook already")
                table[namespace] = hook

    # --- the door ------------------------------------------------------------------------------

    def watch_auth_deadline(self, eio_sid: str) -> None:
        """Drop an engine.io connection that has not authenticated a namespace in time."""
        loop = asyncio.get_running_loop()
        self.pending_auth[eio_sid] = loop.call_later(
            self.settings.auth_deadline_seconds, lambda: self.sio.keep(self._drop_unauthenticated(eio_sid))
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
            except Exception as exc:  # noqa: BLE001 - every failure is answered in the one shape
                raise self._refusal(exc, f"connect to {namespace}") from None
            principal = grant.principal
            if not may_open(principal.role, namespace):
                raise _refuse("forbidden", f"{principal.role} may not open {namespace}")
            conn = Conn(sid, namespace, principal,
                        TokenBucket(self.settings.rate_limit_per_second, self.settings.rate_limit_burst, time.monotonic()),
                        gen=grant.gen, login=grant.login)
            self.conns[(namespace, sid)] = conn
            self.forget_eio(self.sio.manager.eio_sid_from_sid(sid, namespace))
            try:
                hook = self.on_connect.get(namespace)
                if hook is not None:
                    await hook(conn)
            except Exception as exc:  # noqa: BLE001 - refused in the one shape, never half-connected
                self.conns.pop((namespace, sid), None)
                raise self._refusal(exc, f"connect hook of {namespace} for {conn.tag}") from None
            log.info("connected %s %s conn=%s", namespace, conn.tag, sid)
            return True

        return connect

    def _refusal(self, exc: Exception, what: str) -> socketio.exceptions.ConnectionRefusedError:
        answer = translate(exc)
        if answer.unexpected:
            log.error("unexpected error in %s", what, exc_info=exc)
        elif answer.error.code == "unavailable":
            log.warning("redis unavailable during %s: %s", what, type(exc).__name__)
        return _refuse(answer.error.code, answer.error.message)

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
            if "error" in reply and self.on_error_ack is not None:
                self.on_error_ack(namespace, str(reply["error"].get("code", "")))
            return reply

        return on_event

    async def dispatch(self, namespace: str, event: str, sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        """Budget, validate, authorise and run one client event; always answer in the one shape."""
        conn = self.conns.get((namespace, sid))
        if conn is None:
            return _err("unauthenticated", "this socket is not authenticated")
        if not conn.bucket.take(time.monotonic()):
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
        except Exception as exc:  # noqa: BLE001 - the one translator answers every failure
            answer = translate(exc)
            if answer.unexpected:
                if conn.noise is None:
                    conn.noise = LogThrottle(log, f"{conn.tag} conn={sid}")
                conn.noise.log(logging.ERROR, "unexpected error in %s %s from %s", namespace, event, conn.tag,
                               exc_info=True)
            elif answer.error.code == "unavailable":
                log.warning("redis unavailable during %s %s: %s", namespace, event, type(exc).__name__)
            return answer.error.to_payload()

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
            self.sio.drop(self.sio.manager.eio_sid_from_sid(conn.sid, conn.namespace), why)

    def connected(self, namespace: str | None = None) -> list[Conn]:
        """This node's authenticated sockets (of one namespace)."""
        return [c for c in self.conns.values() if namespace is None or c.namespace == namespace]

    def is_connected(self, conn: Conn) -> bool:
        return self.conns.get((conn.namespace, conn.sid)) is conn

    # --- connection ownership ----------------------------------------------------------------

    def _owner(self, conn: Conn) -> str:
        return f"{self.node_id}:{conn.sid}"

    async def claim(self, conn: Conn, role: str) -> None:
        """Make this socket the subject's current one (a reload or another tab replaces it)."""
        await self.claims.claim(role, conn.subject, self._owner(conn))

    async def release(self, conn: Conn, role: str) -> bool:
        """End this socket's claim; False when a newer socket of the subject has taken over."""
        return await self.claims.release(role, conn.subject, self._owner(conn))

    async def reclaim(self, conn: Conn, role: str) -> None:
        """Claim the subject for this socket again unless another socket has claimed it since."""
        mine = self._owner(conn)
        current = await self.claims.current(role, conn.subject)
        if current == mine:
            return
        node, _, other = current.partition(":")
        if current and (node != self.node_id or (conn.namespace, other) in self.conns):
            return  # a newer socket, here or on another node, owns the subject now
        await self.claims.replace(role, conn.subject, current, mine)

    async def hear_bus(self) -> None:
        """Resubscribe to the cross-node bus now if it is still deaf (after a Redis outage).

        Its listener retries with a growing pause and the watchdog probes every few seconds;
        pushes made before either heals would not reach this node's own clients.
        """
        manager = self.sio.manager
        if isinstance(manager, WatchedRedisManager) and not await manager.probe(within=1.0):
            log.info("cross-node bus: not heard after the Redis outage; resubscribing now")
            await manager.resubscribe()

    # --- rooms and emits ---------------------------------------------------------------------

    async def enter(self, conn: Conn, room: str) -> None:
        await self.sio.enter_room(conn.sid, room, namespace=conn.namespace)
        conn.rooms.add(room)

    async def emit(self, event: str, data: dict[str, Any], namespace: str, room: str) -> None:
        """Emit to a room, on every node."""
        await self.sio.emit(event, data, namespace=namespace, room=room)

    async def tell(self, conn: Conn, event: str, data: dict[str, Any]) -> None:
        """Emit to one socket."""
        await self.sio.emit(event, data, to=conn.sid, namespace=conn.namespace)

    # --- relay -------------------------------------------------------------------------------------

    async def relay(self, conn: Conn, p: dict[str, Any], me: str) -> dict[str, Any]:
        """Forward SDP/ICE only between members of one held session; log no SDP above DEBUG.

        ``me`` is agent, booth, device or guest. A guest (issue 19) speaks to the booth, the
        specialist and the device agent of the session it joined; they speak to a current guest
        by its gid (``to: "guest", guest: gid``). Guests' pc is always "g".
        """
        sid, to = p["sid"], p["to"]
        s = await self.members(sid)
        if s["state"] not in _HELD:
            raise errors.Forbidden(f"session {sid} is {s['state']}: no media now", code="not_member", field="sid")
        guests = guest_members(s.get("guests", ""))
        gid = p.get("guest") or ""
        if me == "guest":
            mine = [g for g, user in guests.items() if user == conn.subject]
            member = bool(mine) and to in ("booth", "agent", "device")
            gid = mine[0] if mine else ""
        elif to == "guest":
            sender = s["agent"] if me == "agent" else s["booth"]
            member = sender == conn.subject and gid in guests
        elif me == "agent":
            member = s["agent"] == conn.subject and to in ("booth", "device")
        else:  # the booth page and its device agent both speak only to the specialist
            member = s["booth"] == conn.subject and to == "agent"
        if not member:
            raise errors.Forbidden(f"you are not {to}'s peer in session {sid}", code="not_member", field="sid")
        out = {"sid": sid, "from": me, "kind": p["kind"], "data": p["data"], "pc": p["pc"] or "call"}
        if me == "guest":
            out["guest"], out["pc"] = gid, "g"
        if to == "guest":
            out["pc"] = "g"
            await self.emit("signal", out, P.GUEST, f"guest:{guests[gid]}")
        elif to == "agent":
            await self.emit("signal", out, P.AGENT, f"agent:{s['agent']}")
        elif to == "booth":
            await self.emit("signal", out, P.BOOTH, f"booth:{s['booth']}")
        else:
            await self.emit("signal", out, P.DEVICE, f"device:{s['booth']}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("relay %s %s->%s session=%s pc=%s data=%s", p["kind"], me, to, sid, out["pc"], p.get("data"))
        return {}


def _refuse(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: the client's connect_error carries {message, data: {code, message}}."""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})


def _err(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
