"""The device agent: keeps the booth's /device connection, serves the preview, uploads stills.

One ``DeviceAgent`` per booth. Its supervisor loop fetches a fresh connect token (they live at
most 300 s), opens /device, registers the cameras and waits; when the connection drops (server
restart, network) it backs off exponentially with jitter and starts over. Peer connections
are independent of that socket: media flows peer to peer, so a preview survives a server
restart; the specialist's new offer (after ``device_ready``) replaces it, since aiortc has no
ICE restart. Stills travel only over HTTPS to the documents endpoint, never as video.

Several previews at once (issue 19): the specialist's (``from: "agent"``, pc ``preview``) and one
per guest of the session (``from: "guest"``, ``guest: <gid>``, pc ``g``), each its own peer
connection keyed by (from, gid, pc), all fed by one reading of the camera (``PreviewFeed``). A
guest's bye or failed ICE closes only that guest's peer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import socketio
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from citizen_client import __version__
from citizen_client.adapt import add_adaptive_video
from citizen_client.camera import Camera, CameraError
from citizen_client.preview import FeedTrack, FpsMeter, PreviewFeed

log = logging.getLogger(__name__)

NS = "/device"
PREVIEW_PC = "preview"
GUEST_PC = "g"  # a guest's one peer connection per pair (docs/protocol.md, Guests)
#: Guests' previews at once: the server admits 2 guests a session; a guest that rejoined (a new gid)
#: without a bye may linger until its ICE fails, so a few more, the oldest closed first.
MAX_GUEST_PEERS = 4
#: Session states in which no specialist holds the session: no preview then.
ENDED = frozenset({"completed", "rated", "abandoned", "no_show", "interrupted"})
MAX_PENDING_RESULTS = 20


#: A preview peer connection's key: (from, gid, pc): ("agent", "", "preview") or ("guest", gid, "g").
PeerKey = tuple[str, str, str]
SPECIALIST: PeerKey = ("agent", "", PREVIEW_PC)


@dataclass
class PreviewPeer:
    """One preview peer connection: who it serves, in which session."""

    key: PeerKey
    sid: str
    pc: RTCPeerConnection
    started: float = field(default_factory=time.monotonic)
    track: FeedTrack | None = None

    @property
    def who(self) -> str:
        return "the specialist" if self.key == SPECIALIST else f"guest {self.key[1]}"


def peer_key(msg: dict[str, Any]) -> PeerKey | None:
    """Which preview a signal is about; None for anything the device agent does not serve."""
    name = msg.get("pc") or "call"
    if msg.get("from") == "agent" and name == PREVIEW_PC:
        return SPECIALIST
    gid = msg.get("guest")
    if msg.get("from") == "guest" and name == GUEST_PC and isinstance(gid, str) and gid:
        return ("guest", gid, GUEST_PC)
    return None


class AgentError(Exception):
    """A failure of one connection round; the supervisor logs it and tries again."""


class BoothTokenRefused(AgentError):
    """The server refused the booth token (revoked, wrong booth): retrying slowly."""


@dataclass(frozen=True)
class AgentConfig:
    """Where the agent connects and how it behaves; built by ``__main__`` from the command line."""

    server: str  # e.g. https://rw.example.gov.cn or http://127.0.0.1:8080
    booth: str
    token: str = field(repr=False)
    control_port: int = 8765
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    connect_timeout_s: float = 10.0
    upload_timeout_s: float = 30.0

    @property
    def origin(self) -> str:
        """The kiosk page's origin: the server the page is served from."""
        return self.server.rstrip("/")


class Backoff:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s … up to ``maximum``, each × 0.5–1."""

    def __init__(self, initial: float, maximum: float, rand: Callable[[], float] = random.random) -> None:
        self.initial, self.maximum, self.rand = initial, maximum, rand
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.maximum, self.initial * 2 ** self.attempt)
        self.attempt += 1
        return delay * (0.5 + 0.5 * self.rand())


@dataclass
class AgentState:
    connected: bool = False
    registered: bool = False
    session: dict[str, Any] | None = None
    connects: int = 0
    registrations: int = 0
    last_error: str | None = None
    last_capture: dict[str, Any] | None = None
    captures: int = 0


def rtc_configuration_from(grant: dict[str, Any]) -> RTCConfiguration:
    """The peer connection configuration of a connect-token answer.

    ICE servers are explicit, possibly empty, never a default (aiortc would add a public STUN
    server). ``ice_transport_policy: "relay"`` keeps aioice from gathering host and
    server-reflexive candidates at all, so the device agent offers TURN-relayed ones only.
    """
    servers = []
    for s in grant.get("ice_servers") or []:
        servers.append(RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")))
    relay = grant.get("ice_transport_policy") == "relay"
    policy = RTCIceTransportPolicy.RELAY if relay else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


class DeviceAgent:
    """The booth's device agent; ``run()`` until ``stop()``."""

    def __init__(self, config: AgentConfig, camera: Camera) -> None:
        self.config = config
        self.camera = camera
        self.meter = FpsMeter()
        self.state = AgentState()
        self.changed = asyncio.Condition()
        self._stop = asyncio.Event()
        self._signals: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=200)
        self._capture_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sio: socketio.AsyncClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._rtc = RTCConfiguration(iceServers=[])  # from each connect token
        self.feed = PreviewFeed(camera, self.meter)
        self._peers: dict[PeerKey, PreviewPeer] = {}
        self._pending: list[dict[str, Any]] = []

    # --- lifetime ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, register and serve until ``stop()``; reconnect with backoff on any loss."""
        async with aiohttp.ClientSession() as http:
            self._http = http
            worker = asyncio.create_task(self._signal_worker(), name="device-signals")
            try:
                await self._supervise()
            finally:
                worker.cancel()
                for t in list(self._tasks):
                    t.cancel()
                for t in [worker, *self._tasks]:
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
                await self._close_peers(lambda p: True, "agent stopping")
                await self.feed.close()
                self._http = None

    async def stop(self) -> None:
        """Ask ``run()`` to finish: disconnect and close the previews."""
        self._stop.set()
        sio = self._sio
        if sio is not None and sio.connected:
            await sio.disconnect()

    async def wait_for(self, predicate: Callable[[AgentState], bool], within: float = 30) -> AgentState:
        """Wait until the agent's state satisfies ``predicate`` (tests, benches)."""
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: predicate(self.state))
        return self.state

    async def _update(self, **changes: Any) -> None:
        async with self.changed:
            for k, v in changes.items():
                setattr(self.state, k, v)
            self.changed.notify_all()

    @property
    def _pc(self) -> RTCPeerConnection | None:
        """The specialist's preview peer connection, if any."""
        peer = self._peers.get(SPECIALIST)
        return peer.pc if peer is not None else None

    @property
    def guest_peers(self) -> dict[str, RTCPeerConnection]:
        """The guests' preview peer connections by gid."""
        return {k[1]: p.pc for k, p in self._peers.items() if k[0] == "guest"}

    def status(self) -> dict[str, Any]:
        """What the control API's GET /status answers (no tokens, no personal data)."""
        pc = self._pc
        info = self.camera.info
        return {
            "booth": self.config.booth, "server": self.config.origin, "version": __version__,
            "connected": self.state.connected, "registered": self.state.registered,
            "session": self.state.session,
            "camera": {"id": info.id, "kind": info.kind, "role": info.role, "preview": list(info.preview),
                       "still": list(info.still)},
            "preview": {"peer": pc.connectionState if pc is not None else None, "fps": self.meter.fps,
                        "guests": len(self.guest_peers)},
            "connects": self.state.connects, "registrations": self.state.registrations,
            "captures": self.state.captures, "last_capture": self.state.last_capture,
            "last_error": self.state.last_error,
        }

    # --- the connection ----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while not self._stop.is_set():
            delay: float | None = None
            try:
                grant = await self._connect_token()
                registered_before = self.state.registrations
                await self._connection(grant)
                if self.state.registrations > registered_before:
                    backoff.reset()  # it worked for a while: start the backoff afresh
            except BoothTokenRefused as exc:
                log.error("booth %s: the server refuses the booth token (%s); check --token", self.config.booth, exc)
                await self._update(last_error=f"booth token refused: {exc}")
                delay = self.config.backoff_max_s * 3  # an operator must act; do not hammer
            except (AgentError, aiohttp.ClientError, socketio.exceptions.SocketIOError, OSError,
                    TimeoutError) as exc:
                text = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("booth %s: connection round failed: %s", self.config.booth, text)
                await self._update(last_error=text)
            if self._stop.is_set():
                break
            delay = delay or backoff.next()
            log.info("booth %s: reconnecting in %.1f s", self.config.booth, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def _connect_token(self) -> dict[str, Any]:
        """A fresh /device connect token (and the ICE servers) for this round."""
        assert self._http is not None
        url = f"{self.config.origin}/api/booths/{quote(self.config.booth, safe='')}/connect-token"
        async with self._http.post(
            url, json={"role": "device"}, headers={"Authorization": f"Bearer {self.config.token}"},
            timeout=aiohttp.ClientTimeout(total=self.config.connect_timeout_s),
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 401:
                raise BoothTokenRefused((body or {}).get("error", {}).get("message", "401"))
            if resp.status != 200 or not isinstance(body, dict) or "token" not in body:
                raise AgentError(f"connect-token answered HTTP {resp.status}")
        self._rtc = rtc_configuration_from(body)
        return body

    async def _connection(self, grant: dict[str, Any]) -> None:
        """One socket.io connection: connect, register, serve until it drops."""
        sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        gone = asyncio.Event()

        async def on_disconnect(*_args: Any) -> None:
            gone.set()

        sio.on("disconnect", on_disconnect, namespace=NS)
        sio.on("signal", self._on_signal, namespace=NS)
        sio.on("session_state", self._on_session_state, namespace=NS)
        sio.on("capture_request", self._on_capture_request, namespace=NS)
        sio.on("guests", self._on_guests, namespace=NS)
        try:
            await sio.connect(self.config.origin, namespaces=[NS], auth={"token": grant["token"]},
                              transports=["websocket"], wait_timeout=self.config.connect_timeout_s)
            self._sio = sio
            await self._update(connected=True, connects=self.state.connects + 1)
            reply = await sio.call("register", {"cameras": [self.camera.info.to_wire()], "version": __version__},
                                   namespace=NS, timeout=self.config.connect_timeout_s)
            if not isinstance(reply, dict) or "ok" not in reply:
                raise AgentError(f"register refused: {reply}")
            session = reply["ok"].get("session")
            await self._update(registered=True, registrations=self.state.registrations + 1,
                               session=self._active(session), last_error=None)
            log.info("booth %s: registered (session %s)", self.config.booth, (session or {}).get("sid"))
            await self._flush_results()
            waits = [asyncio.create_task(gone.wait()), asyncio.create_task(self._stop.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        finally:
            self._sio = None
            if sio.connected:
                with contextlib.suppress(Exception):
                    await sio.disconnect()
            with contextlib.suppress(Exception):
                await sio.shutdown()
            if self.state.connected:
                log.info("booth %s: disconnected from the server", self.config.booth)
            await self._update(connected=False, registered=False)

    @staticmethod
    def _active(session: dict[str, Any] | None) -> dict[str, Any] | None:
        if not session or session.get("state") in ENDED:
            return None
        return {"sid": session.get("sid"), "state": session.get("state"), "agent": session.get("agent", "")}

    async def _emit(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        sio = self._sio
        if sio is None or not self.state.registered:
            raise AgentError("not connected")
        reply: dict[str, Any] = await sio.call(event, payload, namespace=NS, timeout=self.config.connect_timeout_s)
        return reply

    # --- session and signaling -----------------------------------------------------------------------

    async def _on_session_state(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        session = self._active(data)
        await self._update(session=session)
        if session is None:
            sid = data.get("sid")
            await self._close_peers(lambda p: p.sid == sid, f"session {data.get('state')}")

    async def _on_guests(self, data: Any) -> None:
        """The session's guests now (no names): a guest no longer among them loses its preview."""
        if not isinstance(data, dict) or not isinstance(data.get("guests"), list):
            return
        sid = data.get("sid")
        here = {g.get("gid") for g in data["guests"] if isinstance(g, dict)}
        try:  # in the signaling queue, so it cannot overtake an offer that came before it
            self._signals.put_nowait({"kind": "guests", "sid": sid, "gids": here})
        except asyncio.QueueFull:
            log.warning("booth %s: signaling backlog full; dropping a guests push", self.config.booth)

    async def _on_signal(self, data: Any) -> None:
        if isinstance(data, dict) and peer_key(data) is not None:
            try:
                self._signals.put_nowait(data)
            except asyncio.QueueFull:
                log.warning("booth %s: signaling backlog full; dropping a %s", self.config.booth, data.get("kind"))

    async def _signal_worker(self) -> None:
        """Handle the preview's signaling one message at a time, in arrival order."""
        while True:
            msg = await self._signals.get()
            try:
                await self._handle_signal(msg)
            except Exception:
                log.exception("booth %s: preview signaling failed (%s)", self.config.booth, msg.get("kind"))

    async def _handle_signal(self, msg: dict[str, Any]) -> None:
        if msg.get("kind") == "guests":
            sid, gids = msg.get("sid"), msg.get("gids") or set()
            await self._close_peers(lambda p: p.key[0] == "guest" and p.sid == sid and p.key[1] not in gids,
                                    "the guest left")
            return
        key = peer_key(msg)
        if key is None:
            return
        kind, sid, data = msg.get("kind"), msg.get("sid"), msg.get("data")
        peer = self._peers.get(key)
        if kind == "offer" and isinstance(data, dict) and isinstance(data.get("sdp"), str):
            await self._answer(key, str(sid), data["sdp"])
        elif kind == "ice" and peer is not None and peer.sid == sid:
            if isinstance(data, dict) and data.get("candidate"):
                cand = candidate_from_sdp(str(data["candidate"]).split(":", 1)[-1])
                cand.sdpMid, cand.sdpMLineIndex = data.get("sdpMid"), data.get("sdpMLineIndex")
                await peer.pc.addIceCandidate(cand)
        elif kind == "bye" and peer is not None and peer.sid == sid:
            await self._close_peer(peer, f"bye from {peer.who}")

    async def _answer(self, key: PeerKey, sid: str, sdp: str) -> None:
        """A new offer replaces that peer's preview connection (aiortc has no ICE restart)."""
        old = self._peers.get(key)
        if old is not None:
            await self._close_peer(old, "new offer")
        guests = sorted((p for k, p in self._peers.items() if k[0] == "guest"), key=lambda p: p.started)
        if key != SPECIALIST:
            for stale in guests[: max(0, len(guests) - MAX_GUEST_PEERS + 1)]:
                await self._close_peer(stale, "too many guest previews")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._rtc.iceServers or []),
                                                iceTransportPolicy=self._rtc.iceTransportPolicy))
        peer = PreviewPeer(key, sid, pc)
        self._peers[key] = peer

        @pc.on("connectionstatechange")
        async def _state() -> None:
            log.info("booth %s: preview peer of %s %s (session %s)", self.config.booth, peer.who,
                     pc.connectionState, sid)
            if pc.connectionState == "failed":
                await self._close_peer(peer, "ICE failed")  # that peer re-offers; the others go on
            await self._update()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        peer.track = self.feed.subscribe()
        add_adaptive_video(pc, peer.track)  # after the offer: reuse its video m-line; adapts to the link
        await pc.setLocalDescription(await pc.createAnswer())
        to = {"to": "agent"} if key == SPECIALIST else {"to": "guest", "guest": key[1]}
        reply = await self._emit("signal", {"sid": sid, **to, "kind": "answer", "pc": key[2],
                                            "data": {"type": "answer", "sdp": pc.localDescription.sdp}})
        if "error" in reply:
            log.warning("booth %s: the answer to %s was refused: %s", self.config.booth, peer.who,
                        reply["error"].get("code"))
            await self._close_peer(peer, "answer refused")

    async def _close_peer(self, peer: PreviewPeer, why: str) -> None:
        """Close one preview peer connection (only if it is still the one under its key)."""
        if self._peers.get(peer.key) is peer:
            del self._peers[peer.key]
        if peer.pc.connectionState != "closed":
            log.info("booth %s: closing the preview of %s (%s)", self.config.booth, peer.who, why)
            await peer.pc.close()
            await self._update()
        if peer.track is not None:
            peer.track.stop()  # the sender stops it too, but only if it ever started sending

    async def _close_peers(self, which: Callable[[PreviewPeer], bool], why: str) -> None:
        for peer in [p for p in self._peers.values() if which(p)]:
            await self._close_peer(peer, why)

    # --- captures --------------------------------------------------------------------------------------

    async def _on_capture_request(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str) or not data.get("request_id"):
            log.warning("booth %s: ignoring a malformed capture_request", self.config.booth)
            return
        task = asyncio.create_task(self._capture(data), name=f"capture-{data['request_id']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _capture(self, req: dict[str, Any]) -> None:
        """Grab a full-resolution still, upload it over HTTPS, report the material id back."""
        sid, rid = req["sid"], str(req["request_id"])
        kind, camera = str(req.get("kind") or ""), str(req.get("camera") or self.camera.info.id)
        started = time.monotonic()
        result: dict[str, Any] = {"sid": sid, "request_id": rid}
        async with self._capture_lock:  # one camera head: one still at a time
            try:
                if camera != self.camera.info.id:
                    raise CaptureFailed("unknown_camera", f"this booth has no camera {camera!r}")
                try:
                    jpeg = await self.camera.capture_still()
                except CameraError as exc:
                    raise CaptureFailed("camera_error", str(exc)) from exc
                grabbed = time.monotonic()
                digest = await asyncio.to_thread(lambda: hashlib.sha256(jpeg).hexdigest())
                material = await self._upload(sid, rid, kind, camera, jpeg)
                result["material_id"] = material["id"]
                capture = {"request_id": rid, "material_id": material["id"], "bytes": len(jpeg), "sha256": digest,
                           "verdict": material.get("verdict"), "grab_ms": round((grabbed - started) * 1000),
                           "total_ms": round((time.monotonic() - started) * 1000)}
                log.info("booth %s: still %s uploaded for session %s (%d bytes, %d ms)", self.config.booth,
                         material["id"], sid, len(jpeg), capture["total_ms"])
                await self._update(last_capture=capture, captures=self.state.captures + 1)
            except CaptureFailed as exc:
                log.warning("booth %s: capture %s failed: %s", self.config.booth, rid, exc.code)
                result["error"] = {"code": exc.code, "message": exc.message}
                await self._update(last_capture={"request_id": rid, "error": exc.code})
        await self._send_result(result)

    async def _upload(self, sid: str, rid: str, kind: str, camera: str, jpeg: bytes) -> dict[str, Any]:
        assert self._http is not None
        url = f"{self.config.origin}/api/sessions/{quote(sid, safe='')}/materials"
        try:
            async with self._http.post(
                url, params={"kind": kind, "camera": camera, "request": rid}, data=jpeg,
                headers={"Authorization": f"Bearer {self.config.token}", "X-Booth": self.config.booth,
                         "Content-Type": "image/jpeg"},
                timeout=aiohttp.ClientTimeout(total=self.config.upload_timeout_s),
            ) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CaptureFailed("upload_failed", f"{type(exc).__name__}: {exc}"[:200]) from exc
        if resp.status != 201 or not isinstance(body, dict) or not isinstance(body.get("material"), dict):
            err = (body or {}).get("error") if isinstance(body, dict) else None
            code = err.get("code", "upload_failed") if isinstance(err, dict) else "upload_failed"
            message = err.get("message", "") if isinstance(err, dict) else ""
            raise CaptureFailed(code, message or f"upload answered HTTP {resp.status}")
        material: dict[str, Any] = body["material"]
        return material

    async def _send_result(self, result: dict[str, Any]) -> None:
        try:
            reply = await self._emit("capture_result", result)
        except (AgentError, socketio.exceptions.SocketIOError, TimeoutError):
            self._pending = [*self._pending, result][-MAX_PENDING_RESULTS:]  # sent after re-registering
            return
        if "error" in reply:
            log.warning("booth %s: capture_result refused: %s", self.config.booth, reply["error"].get("code"))

    async def _flush_results(self) -> None:
        pending, self._pending = self._pending, []
        for result in pending:
            await self._send_result(result)


class CaptureFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message
