"""The socket.io server of one node: built once, attached to the aiohttp app, torn down cleanly."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import engineio
import socketio
from aiohttp import WSCloseCode, web
from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as aiohttp_driver
from socketio import packet as sio_packet

from signaling.budget import Door, Limits, Verdict
from signaling.bus import WatchedRedisManager, watch_bus
from signaling.hub import RESERVED_EVENTS, Hub
from signaling.settings import SignalingSettings
from signaling.tasks import periodic, stop_tasks

log = logging.getLogger(__name__)

class _PlainWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket without permessage-deflate, every frame charged to its door.

    aiohttp accepts the deflate extension browsers offer; its compressor costs ~100 KB per
    socket (measured: 139 KB/conn with it, 34 KB without) and buys nothing for small JSON.
    """

    def __init__(self, handler: Any, server: Any, sio: Server) -> None:
        super().__init__(handler, server)
        self.doors = sio.doors
        self.sio = sio

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        self.sio.websockets.add(self._sock)
        try:
            await self.handler(self)
        finally:
            self.sio.websockets.discard(self._sock)
            # engine.io ends its socket (disconnect handlers, hooks) after its reader loop; when the
            # client drops the connection during our closing handshake, aiohttp may cancel this
            # handler first, and the hooks would wait for the ping timeout
            sock = getattr(self.handler, "__self__", None)
            if sock is not None and not sock.closed and not sock.closing:
                self.sio.keep(sock.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE))
        return self._sock

    async def wait(self) -> Any:
        """The next frame the connection's door admits, before engine.io decodes it.

        A dropped frame is skipped; a closed door raises OSError, on which engine.io ends the
        socket the normal way (the disconnect handlers and hooks run).
        """
        # self.handler is the engine.io socket's bound _websocket_handler
        door = self.doors.get(getattr(getattr(self.handler, "__self__", None), "sid", ""))
        if door is not None:
            door.transport = self
        while True:
            msg = await self._sock.receive()
            if not isinstance(msg.data, bytes | str):  # closed, or an error such as an oversized frame
                raise OSError()
            if door is None:
                return msg.data
            verdict = door.frame(msg.data, time.monotonic())
            if verdict is Verdict.ADMIT:
                return msg.data
            if verdict is Verdict.CLOSE:
                raise OSError(door.budget.closed_for)


class _EngineIO(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server whose refusal of a foreign Origin is the one error shape (HTTP's cross_origin).

    engine.io answers every bad handshake with a plain-text 400; its only hook is ``_bad_request``,
    called with the message ``"<origin> is not an accepted origin."`` for this case.
    """

    #: Packets one socket may have queued; set by ``Server`` (``max_outbound_packets``).
    max_outbound = 1000
    #: Called with (eio_sid, queued) when a packet would pass the bound; set by ``Server``.
    on_slow_consumer: Callable[[str, int], None] | None = None

    async def send_packet(self, sid: str, pkt: Any) -> None:
        """Queue a packet for a socket, unless its queue is full: then the client does not read.

        Every emit, ack and connect answer passes here (python-socketio's ``_send_packet`` ->
        ``eio.send`` -> ``send_packet``); the bound is checked at the moment a packet is queued,
        and the slow consumer is dropped then, not at the next round of a poller.
        """
        sock = self.sockets.get(sid)
        if sock is not None and not sock.closed:
            queued = sock.queue.qsize()
            if queued >= self.max_outbound:
                if self.on_slow_consumer is not None:
                    self.on_slow_consumer(sid, queued)
                return
        await super().send_packet(sid, pkt)

    def _bad_request(self, message: str | None = None) -> dict[str, Any]:
        if message is None or not message.endswith(" is not an accepted origin."):
            return dict(super()._bad_request(message))
        body = {"error": {"code": "cross_origin", "message": "connections from another site are not accepted"}}
        return {"status": "403 FORBIDDEN", "headers": [("Content-Type", "application/json; charset=utf-8")],
                "response": json.dumps(body).encode()}


class Server(socketio.AsyncServer):  # type: ignore[misc]
    """AsyncServer with a door per engine.io connection: an auth deadline, an inbound budget,
    no binary attachments, and garbage or reserved event names answered without a traceback."""

    hub: Hub | None = None

    def __init__(self, *args: Any, limits: Limits, max_outbound: int = 1000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.doors: dict[str, Door] = {}
        self.websockets: set[WebSocketResponse] = set()  # open; closed all at once by close_websockets()
        self._closing: set[asyncio.Task[Any]] = set()
        self.eio.max_outbound = max_outbound
        self.eio.on_slow_consumer = self._slow_consumer

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIO

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        self.doors[eio_sid] = Door(eio_sid, self.limits, time.monotonic())
        result = await super()._handle_eio_connect(eio_sid, environ)
        if self.hub is not None:
            self.hub.watch_auth_deadline(eio_sid)
        return result

    async def _handle_eio_disconnect(self, eio_sid: str, *args: Any) -> Any:
        door = self.doors.pop(eio_sid, None)
        if door is not None:
            door.log.flush()
        if self.hub is not None:
            self.hub.forget_eio(eio_sid)
        return await super()._handle_eio_disconnect(eio_sid, *args)

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        """python-socketio's dispatch, minus binary packets; undecodable input is garbage, not a traceback.

        The library would keep every attachment a packet announces until the last one came; no
        event of ours takes attachments, so an announcement closes the connection instead.
        """
        door = self.doors.get(eio_sid)
        if door is None:  # the connection is already gone
            return
        verdict = door.message(data, time.monotonic())
        if verdict is Verdict.ADMIT:
            try:
                pkt = self.packet_class(encoded_packet=data)
            except Exception:  # any undecodable packet (bad type, bad JSON, overlong id)
                verdict = door.garbage("an undecodable socket.io packet")
            else:
                verdict = await self._dispatch(eio_sid, door, pkt)
        if verdict is Verdict.CLOSE and not door.shut:
            door.shut = True
            self._close_eio(eio_sid, door)

    async def _dispatch(self, eio_sid: str, door: Door, pkt: Any) -> Verdict:
        kind, data = pkt.packet_type, pkt.data
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == sio_packet.EVENT and isinstance(data, list) and data and isinstance(data[0], str):
            if data[0] in RESERVED_EVENTS:
                await self._handle_reserved(eio_sid, pkt.namespace or "/", pkt.id, data)
            else:
                await self._handle_event(eio_sid, pkt.namespace, pkt.id, data)
        elif kind == sio_packet.ACK and isinstance(data, list):
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, data)
        else:
            return door.garbage("a socket.io packet of a type or shape a client may not send")
        return Verdict.ADMIT

    async def _handle_reserved(self, eio_sid: str, namespace: str, ack_id: int | None, data: list[Any]) -> None:
        """A client event named like socket.io's own (connect, disconnect): never their handlers.

        The catch-all answers it like any unknown event (unknown_event, a strike); python-socketio
        itself would run our connect or disconnect handler with the client's arguments.
        """
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        catch_all = self.handlers.get(namespace, {}).get("*")
        if sid is None or catch_all is None or not self.manager.is_connected(sid, namespace):
            return
        reply = await catch_all(data[0], sid, *data[1:])
        if ack_id is not None:
            await self._send_packet(eio_sid, self.packet_class(sio_packet.ACK, namespace=namespace, id=ack_id,
                                                               data=[reply]))

    def drop(self, eio_sid: str, why: str, *, abort: bool = False) -> None:
        """Close an engine.io connection for ``why`` (the caller has logged it).

        ``abort``: a long-polling client is not sent a close packet (it does not read: the close
        would wait on its queue forever); the socket ends at once.
        """
        door = self.doors.get(eio_sid)
        if door is None or door.shut:
            return
        door.budget.refuse(why)
        door.warned = door.shut = True
        self._close_eio(eio_sid, door, abort=abort)

    def _slow_consumer(self, eio_sid: str, queued: int) -> None:
        door = self.doors.get(eio_sid)
        if door is None or door.shut:
            return
        log.warning("dropping connection %s: %d packets queued, the client does not read", eio_sid, queued)
        self.drop(eio_sid, "a slow consumer", abort=True)

    def _close_eio(self, eio_sid: str, door: Door, *, abort: bool = False) -> None:
        """End an engine.io connection the normal way (disconnect handlers and hooks run)."""
        # a websocket is closed under its reader, which then ends the engine.io socket; engine.io's
        # own disconnect would only queue a close packet that a hostile client may never read
        if door.transport is not None:
            self.keep(door.transport.close())
        elif abort:
            self.keep(self._abort_eio(eio_sid))
        else:
            self.keep(self.eio.disconnect(eio_sid))

    async def _abort_eio(self, eio_sid: str) -> None:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            await sock.close(wait=False, abort=True, reason=self.eio.reason.SERVER_DISCONNECT)
            self.eio.sockets.pop(eio_sid, None)

    async def close_websockets(self) -> None:
        """Close every open websocket (1001, going away): on a node's shutdown its clients reconnect
        to another node now, and aiohttp need not wait for their handlers until its timeout."""
        sockets = list(self.websockets)
        if sockets:
            await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY) for ws in sockets),
                                 return_exceptions=True)

    def keep(self, closing: Coroutine[Any, Any, Any]) -> None:
        """Run a connection's close as a task of its own, referenced until done."""
        task = asyncio.get_running_loop().create_task(closing)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def create_server(settings: SignalingSettings) -> Server:
    """The socket.io server with the node's budgets and the watched Redis manager."""
    sio = Server(
        limits=settings.limits,
        max_outbound=settings.max_outbound_packets,
        async_mode="aiohttp",
        client_manager=WatchedRedisManager(settings.redis_url),
        cors_allowed_origins=list(settings.allowed_origins) or None,  # None: only this server's own origin
        max_http_buffer_size=settings.max_message_bytes,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_timeout_seconds,
        transports=["websocket", "polling"],
        logger=False,
        engineio_logger=False,
    )
    # this server only
    sio.eio._async = {**sio.eio._async, "websocket": functools.partial(_PlainWebSocket, sio=sio)}
    return sio


async def run_signaling(sio: Server, hub: Hub) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the bus listener, its watchdog and the revocation sweep; on exit stop them all."""
    settings = hub.settings
    sio.manager_initialized = True
    sio.manager.initialize()
    tasks = [
        asyncio.create_task(watch_bus(sio.manager, interval=settings.bus_probe_seconds,
                                      within=max(0.5, settings.bus_probe_seconds * 0.6)), name="bus-watchdog"),
        asyncio.create_task(periodic(settings.revocation_sweep_seconds, hub.sweep_revoked, "revocation sweep"),
                            name="revocations"),
    ]
    yield tasks
    await stop_tasks(tasks)
    await sio.shutdown()
    await sio.manager.close()


def attach(app: web.Application, sio: Server) -> None:
    """Mount socket.io at /socket.io/ on the app."""
    sio.attach(app)
