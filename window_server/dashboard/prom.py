"""``GET /metrics``: the node's Prometheus exposition (prometheus-client, one registry per app).

Gauges are read from Redis at scrape time (the same live snapshot as the dashboards), so every
node reports the same chain-wide values; counters count what *this* node saw: the queue events
its dashboard consumer folded (each event is folded by exactly one node, so ``sum()`` over nodes
is the chain's figure), HTTP error responses and socket.io error acknowledgements it answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from window_server.dashboard.queries import LiveSnapshot, states_open, waiting_by_centre

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Queue events counted under their own names, besides the per-action counter.
_NAMED = {"offer": "offers", "accept": "accepts", "offer_timeout": "offer_timeouts", "transfer": "transfers"}


class Prom:
    """The metrics of one node."""

    def __init__(self, centres: tuple[str, ...]) -> None:
        self.centres = centres
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.waiting = Gauge("rw_waiting_sessions", "Sessions waiting for an answer (waiting or offered) per intake centre",
                             ["centre"], registry=r)
        self.longest = Gauge("rw_longest_wait_seconds", "Longest current wait per intake centre", ["centre"], registry=r)
        self.sessions = Gauge("rw_sessions", "Open sessions by state", ["state"], registry=r)
        self.specialists = Gauge("rw_specialists", "Specialists by presence per centre", ["centre", "status"],
                                 registry=r)
        self.transfers_pending = Gauge("rw_transfers_pending", "Transfers waiting for their target", registry=r)
        self.backlog = Gauge("rw_dashboard_backlog", "Log entries the dashboard consumers have not folded yet "
                             "(not delivered, or delivered and not acknowledged)", ["kind"], registry=r)
        self.offers = Counter("rw_offers", "Sessions offered to a specialist (this node's share)", registry=r)
        self.accepts = Counter("rw_accepts", "Offers accepted (this node's share)", registry=r)
        self.offer_timeouts = Counter("rw_offer_timeouts", "Offers that timed out (this node's share)", registry=r)
        self.transfers = Counter("rw_transfers", "Transfers requested (this node's share)", registry=r)
        self.events = Counter("rw_session_events", "Session events folded by this node's dashboard consumer",
                              ["act"], registry=r)
        self.http_errors = Counter("rw_http_errors", "HTTP responses with a 4xx or 5xx status", ["status"],
                                   registry=r)
        self.push_reads = Counter("rw_dashboard_push_reads", "Live snapshots this node read to push to dashboards "
                                  "(none while no dashboard is open anywhere)", registry=r)
        self.socketio_errors = Counter("rw_socketio_errors", "socket.io acknowledgements carrying an error",
                                       ["namespace", "code"], registry=r)

    def count_events(self, events: list[dict[str, str]]) -> None:
        """Count the queue events a consumer batch folded."""
        for ev in events:
            act = ev.get("act", "")
            if not act or not ev.get("sid") and act != "presence":
                continue
            self.events.labels(act).inc()
            named = _NAMED.get(act)
            if named:
                getattr(self, named).inc()

    def socketio_error(self, namespace: str, code: str) -> None:
        self.socketio_errors.labels(namespace, code).inc()

    def set_live(self, snap: LiveSnapshot) -> None:
        """Set the gauges from a live snapshot."""
        waiting = waiting_by_centre(snap)
        for c in self.centres:
            self.waiting.labels(c).set(waiting.get(c, 0))
            waits = [w["waited_s"] for w in snap.waiting if w["intake"] == c]
            self.longest.labels(c).set(max(waits, default=0))
        for state, n in states_open(snap).items():
            self.sessions.labels(state).set(n)
        self.specialists.clear()
        counts: dict[tuple[str, str], int] = {}
        for a in snap.agents.values():
            k = (a.get("centre", ""), a.get("status", ""))
            counts[k] = counts.get(k, 0) + 1
        for (centre, status), n in counts.items():
            self.specialists.labels(centre, status).set(n)
        self.transfers_pending.set(len(snap.transfers))

    def set_backlog(self, group: dict[str, object] | None) -> None:
        """Set the consumer group's backlog from XINFO GROUPS (``lag`` is None when Redis cannot tell)."""
        pending = group.get("pending") if group else None
        lag = group.get("lag") if group else None
        self.backlog.labels("pending").set(float(pending) if isinstance(pending, int) else 0)
        self.backlog.labels("undelivered").set(float(lag) if isinstance(lag, int) else float("nan"))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


#: The classic text format every Prometheus version scrapes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def http_errors_middleware(get: Callable[[web.Application], Prom | None]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An outermost middleware counting error responses (after the error middleware shaped them)."""

    @web.middleware
    async def count_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            prom = get(request.app)
            if prom is not None and exc.status >= 400:
                prom.http_errors.labels(str(exc.status)).inc()
            raise
        if resp.status >= 400:
            prom = get(request.app)
            if prom is not None:
                prom.http_errors.labels(str(resp.status)).inc()
        return resp

    return count_errors
