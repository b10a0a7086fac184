"""A light socket.io client over a raw engine.io websocket: thousands of them in one asyncio loop.

``socketio.AsyncClient`` costs too much per client to hold thousands on a 2-core box, so this
speaks the wire protocol itself over plain aiohttp websockets. Engine.io v4 over a websocket is
one text frame per packet: ``0{...}`` open, ``2``/``3`` ping/pong, ``4`` message; a socket.io
packet rides inside a ``4``: ``40/ns,{auth}`` connect, ``40/ns,{"sid":..}`` its acceptance,
``44/ns,{..}`` a refusal, ``41/ns,`` the server ending the namespace, ``42/ns,<id>[event, data]``
an event that wants an ack, ``43/ns,<id>[reply]`` the ack, ``42/ns,[event, data]`` a push.

No event of the protocol takes binary attachments (docs/protocol.md), so socket.io packet types
5 and 6 never occur and are not handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

EventHandler = Callable[[str, Any], None]
"""Called for every server push: ``(event name, data)``; must not block (schedule work instead)."""


class ConnectRefused(Exception):
    """The server answered the namespace connect with ``44`` (or the open was malformed)."""

    def __init__(self, message: str, code: str = "connect_refused") -> None:
        super().__init__(message)
        self.code = code


class AckTimeout(TimeoutError):
    """No acknowledgement arrived in time."""


class LinkClosed(ConnectionError):
    """The socket ended while an acknowledgement was awaited (or before the call)."""


def ws_url(base: str) -> str:
    """The engine.io websocket address of a server at ``base`` (http(s)://host:port)."""
    base = base.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return base + "/socket.io/?EIO=4&transport=websocket"


def ssl_context(ca_file: Path | str | None) -> ssl.SSLContext | None:
    """A TLS context trusting ``ca_file`` (a PEM CA, e.g. the cluster's); None: the defaults."""
    if ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(ca_file))


def new_http(ca_file: Path | str | None = None, *, timeout_s: float = 30.0) -> aiohttp.ClientSession:
    """One HTTP session for many clients: no connection cap, TLS trusting ``ca_file``.

    No cookie jar: aiohttp's default jar drops cookies of IP-address hosts, and each specialist
    carries its own login cookie explicitly (``SimHttp.login``).
    """
    connector = aiohttp.TCPConnector(limit=0, ssl=ssl_context(ca_file) or True)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=aiohttp.ClientTimeout(total=timeout_s))


@dataclass(eq=False)
class Link:
    """One client socket: a reader task answers pings, resolves acks by id and hands pushes on.

    ``reply_prefix`` is ``43<ns>,`` for socket.io acks; a bench's echo baseline sets it to the
    request's own prefix. ``request`` builds the frame ``call()`` sends (the bench's fixed request).
    """

    ws: aiohttp.ClientWebSocketResponse
    reply_prefix: str
    request: Callable[[int], str] | None = None
    namespace: str = ""
    on_event: EventHandler | None = None
    on_close: Callable[[], None] | None = None
    pending: dict[int, asyncio.Future[tuple[float, str]]] = field(default_factory=dict)
    next_id: int = 0
    reader: asyncio.Task[None] | None = None
    ended: bool = False

    def start(self) -> None:
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        prefix, n = self.reply_prefix, len(self.reply_prefix)
        push = f"42{self.namespace}," if self.namespace else "\0"
        gone = f"41{self.namespace}," if self.namespace else "\0"
        try:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                async for msg in self.ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    data = msg.data
                    if data == "2":  # engine.io ping: a client that does not answer is dropped
                        await self.ws.send_str("3")
                    elif data.startswith(prefix):
                        at = time.perf_counter()  # stamp on arrival, before the waiter is scheduled
                        cut = data.index("[", n)
                        fut = self.pending.pop(int(data[n:cut]), None)
                        if fut is not None and not fut.done():
                            fut.set_result((at, data[cut:]))
                    elif data.startswith(push):
                        self._dispatch(data[len(push):])
                    elif data.startswith(gone) or data == "1":  # namespace ended, or engine.io close
                        break
        finally:
            self.ended = True
            for fut in self.pending.values():  # the socket ended: fail whoever still waits
                if not fut.done():
                    fut.set_exception(LinkClosed("socket closed"))
            self.pending.clear()
            if self.on_close is not None:
                self.on_close()

    def _dispatch(self, body: str) -> None:
        if self.on_event is None:
            return
        if body[:1] != "[":  # a push that wants an ack from us: none in this protocol; skip the id
            body = body[body.find("["):]
        try:
            packet = json.loads(body)
        except ValueError:
            return
        if isinstance(packet, list) and packet and isinstance(packet[0], str):
            self.on_event(packet[0], packet[1] if len(packet) > 1 else None)

    async def _send_wait(self, build: Callable[[int], str], limit_s: float) -> tuple[float, str]:
        if self.ended:
            raise LinkClosed("socket closed")
        self.next_id += 1
        rid = self.next_id
        fut: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        t0 = time.perf_counter()
        try:
            await self.ws.send_str(build(rid))
            async with asyncio.timeout(limit_s):
                at, payload = await fut
        except TimeoutError:
            raise AckTimeout(f"no ack within {limit_s:g} s") from None
        except (aiohttp.ClientError, ConnectionResetError, RuntimeError) as exc:
            raise LinkClosed(str(exc)) from exc
        finally:
            self.pending.pop(rid, None)
        return (at - t0) * 1000.0, payload

    async def call(self, limit_s: float = 10.0) -> tuple[float, str]:
        """Send the fixed request (``request``) and wait for its reply: (round trip ms, reply payload)."""
        assert self.request is not None, "this link has no fixed request"
        return await self._send_wait(self.request, limit_s)

    async def ask(self, event: str, data: Any = None, limit_s: float = 10.0) -> tuple[float, Any]:
        """Emit ``event`` with ``data`` and wait for its ack: (round trip ms, the ack's first value)."""
        body = json.dumps([event, {} if data is None else data], separators=(",", ":"), ensure_ascii=False)
        rtt, payload = await self._send_wait(lambda rid: f"42{self.namespace},{rid}{body}", limit_s)
        try:
            reply = json.loads(payload)
        except ValueError:
            return rtt, None
        return rtt, reply[0] if isinstance(reply, list) and reply else None

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError, RuntimeError):
            async with asyncio.timeout(2.0):
                await self.ws.close()


def resume_request(namespace: str) -> Callable[[int], str]:
    """The socket.io ``resume`` event with ack id ``rid`` (an echo server returns it verbatim)."""
    return lambda rid: f'42{namespace},{rid}["resume",{{}}]'


async def sio_connect(
    session: aiohttp.ClientSession, url: str, namespace: str, token: str, *, deflate: bool = False,
    limit_s: float = 10.0, on_event: EventHandler | None = None, on_close: Callable[[], None] | None = None,
    ssl_ctx: ssl.SSLContext | None = None,
) -> Link:
    """Open an engine.io websocket at ``url`` (``ws_url(base)``) and join ``namespace`` with ``token``.

    Pushes that arrive with the acceptance (a booth's ``session_state`` resume, a specialist's
    ``presence``) are handed to ``on_event`` in order, before this returns.
    """
    early: list[str] = []
    async with asyncio.timeout(limit_s):
        ws = await session.ws_connect(url, autoping=True, compress=15 if deflate else 0,
                                      max_msg_size=1 << 20, ssl=ssl_ctx if ssl_ctx is not None else True)
        try:
            opening = await ws.receive_str()
            if not opening.startswith("0{"):
                raise ConnectRefused(f"engine.io open expected, got {opening[:40]!r}")
            await ws.send_str(f"40{namespace}," + json.dumps({"token": token}))
            while True:
                data = await ws.receive_str()
                if data == "2":
                    await ws.send_str("3")
                elif data.startswith(f"40{namespace},"):
                    break
                elif data.startswith(f"44{namespace},"):
                    raise ConnectRefused(*_refusal(data[len(namespace) + 3:]))
                elif data.startswith(f"42{namespace},"):
                    early.append(data)
        except BaseException:
            await ws.close()
            raise
    link = Link(ws, f"43{namespace},", resume_request(namespace), namespace, on_event, on_close)
    for data in early:
        link._dispatch(data[len(namespace) + 3:])
    link.start()
    return link


def _refusal(body: str) -> tuple[str, str]:
    """(message, code) of a ``44`` refusal: ``{message, data: {code, message}}``."""
    try:
        info = json.loads(body)
        code = str(((info.get("data") or {}).get("code")) or "connect_refused")
        return str(info.get("message", ""))[:200], code
    except (ValueError, AttributeError):
        return body[:200], "connect_refused"
