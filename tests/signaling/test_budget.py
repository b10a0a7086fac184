"""Every inbound frame is budgeted, attachments are refused, reserved names and garbage cost strikes.

Raw engine.io/socket.io over a real websocket where a well-behaved client library would not
send what an attacker sends; the python-socketio client where it does.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import tracemalloc
from typing import Any

import aiohttp
import pytest

from signaling.budget import Budget, Limits, LogThrottle, Verdict
from window_server.appkeys import HUB, SIO
from window_server.domain.auth import Role
from window_server.store.keys import key

from .conftest import SECRET, Client, token

# --- the budget itself (pure: an injected clock, no loop) ---------------------------------------

LIMITS = Limits(frames_per_second=2, frame_burst=4, bytes_per_second=100, byte_burst=1000, max_strikes=3)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # (seconds since start, bytes) -> verdicts
        ([(0, 10)] * 4, [Verdict.ADMIT] * 4),  # the burst
        ([(0, 10)] * 6, [Verdict.ADMIT] * 4 + [Verdict.DROP] * 2),  # over it: dropped, a strike each
        ([(0, 10)] * 7, [Verdict.ADMIT] * 4 + [Verdict.DROP] * 2 + [Verdict.CLOSE]),  # third strike
        ([(0, 10)] * 5 + [(0.5, 10)], [Verdict.ADMIT] * 4 + [Verdict.DROP, Verdict.ADMIT]),  # refilled
        ([(0, 900), (0, 200)], [Verdict.ADMIT, Verdict.DROP]),  # bytes burst
        ([(0, 900), (2, 200)], [Verdict.ADMIT, Verdict.ADMIT]),  # bytes refilled at 100/s
        ([(0, 1001)], [Verdict.CLOSE]),  # a frame larger than the whole byte burst can never pass
    ],
)
def test_budget_admits_drops_then_closes(frames: list[tuple[float, int]], expected: list[Verdict]) -> None:
    budget = Budget(LIMITS, now=0.0)
    assert [budget.charge(n, now=t) for t, n in frames] == expected


def test_a_closed_budget_admits_nothing_more() -> None:
    budget = Budget(LIMITS, now=0.0)
    assert budget.refuse("binary attachment") is Verdict.CLOSE
    assert budget.closed_for == "binary attachment"
    assert budget.charge(1, now=100.0) is Verdict.CLOSE


def test_log_throttle_lets_a_few_lines_through_then_counts(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger("test.throttle"), "conn=x", limit=2, window=60)
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for i in range(10):
            throttle.log(logging.INFO, "garbage %d", i, now=float(i))
        throttle.log(logging.INFO, "garbage late", now=61.0)  # a new window: the held-back count first
        throttle.flush(now=62.0)
    assert [r.getMessage() for r in caplog.records] == [
        "garbage 0", "garbage 1", "conn=x: 8 more such lines held back", "garbage late"]


# --- raw engine.io helpers ---------------------------------------------------------------------


def _ws_url(srv: Any) -> str:
    return srv.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"


async def _open_booth(http: aiohttp.ClientSession, srv: Any, demo: dict[str, str],
                      subject: str) -> aiohttp.ClientWebSocketResponse:
    """A raw websocket connected to /booth with a booth token (engine.io open, socket.io CONNECT)."""
    ws = await http.ws_connect(_ws_url(srv))
    first = await ws.receive(timeout=10)
    assert first.type is aiohttp.WSMsgType.TEXT and first.data.startswith("0"), first
    tok = token(Role.BOOTH, subject, demo["intake_centre"], "/booth")
    await ws.send_str("40/booth," + json.dumps({"token": tok}))
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            if msg.data.startswith("40/booth,"):
                return ws
            assert not msg.data.startswith("44/booth,"), msg.data  # refused


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read until the server ends the connection (websocket close, or engine.io's close packet)."""
    while True:
        msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.ERROR):
            return
        if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "1":
            return  # engine.io close
        if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")  # answer pings: only what the test sends may drop us


async def _stream(ws: aiohttp.ClientWebSocketResponse, frames: int, frame: bytes | str,
                  closed: asyncio.Task[None]) -> int:
    """Send up to ``frames`` copies of ``frame``, stopping once the server has closed; return how many went."""
    sent = 0
    for _ in range(frames):
        if closed.done() or ws.closed:
            break
        try:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        except (ConnectionError, aiohttp.ClientError):
            break
        sent += 1
    return sent


# --- item 2: binary attachments and floods -------------------------------------------------------

ANNOUNCE = '459999999-/booth,7["resume",{"_placeholder":true,"num":0}]'


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
async def test_binary_attachments_close_the_socket_and_memory_stays_flat(
        start_server: Any, demo: dict[str, str], redis: Any, announce: bool) -> None:
    srv = await start_server(secret=SECRET)
    streamed = 300 * 60_000  # 18 MB offered
    async with aiohttp.ClientSession() as http:
        ws = await _open_booth(http, srv, demo, "bin-booth")
        assert await redis.get(key("connection", role="booth", subject="bin-booth"))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            closed = asyncio.create_task(_until_closed(ws))
            if announce:
                await ws.send_str(ANNOUNCE)
            await _stream(ws, 300, b"\x00" * 60_000, closed)
            async with asyncio.timeout(20):
                await closed
            await ws.close()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    # whatever was streamed, the server kept none of it: far below 10% of what was offered
    assert grown < streamed // 10, f"memory grew by {grown} bytes"
    sio = srv.app[SIO]
    assert not sio._binary_packet
    # the normal disconnect hook ran: the booth's connection claim is released
    async with asyncio.timeout(10):
        while await redis.get(key("connection", role="booth", subject="bin-booth")):
            pass  # each GET yields to the server until its hook has run
    assert not any(c.subject == "bin-booth" for c in srv.app[HUB].conns.values())


@pytest.mark.parametrize("frame", [ANNOUNCE, "b" + "A" * 80], ids=["announced", "base64-binary"])
async def test_attachments_over_long_polling_close_the_connection(
        start_server: Any, demo: dict[str, str], redis: Any, frame: str) -> None:
    srv = await start_server(secret=SECRET)
    url = srv.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            opened = await r.text()
        url += "&sid=" + json.loads(opened[1:])["sid"]
        tok = token(Role.BOOTH, "poll-booth", demo["intake_centre"], "/booth")
        async with http.post(url, data="40/booth," + json.dumps({"token": tok})) as r:
            assert r.status == 200
        async with asyncio.timeout(10), http.get(url) as r:
            assert "40/booth," in await r.text()
        assert await redis.get(key("connection", role="booth", subject="poll-booth"))
        async with http.post(url, data=frame) as r:
            assert r.status == 200
        async with asyncio.timeout(10):
            while True:  # the next polls bring the close packet, then the connection is gone
                async with http.get(url) as r:
                    if r.status != 200 or "1" in (await r.text()).split("\x1e"):
                        break
    assert not srv.app[SIO]._binary_packet
    assert not await redis.get(key("connection", role="booth", subject="poll-booth"))  # the hook ran


async def test_a_flood_of_tiny_frames_closes_the_connection(start_server: Any, demo: dict[str, str]) -> None:
    # a rate so low that no machine sends 300 frames slowly enough to stay within it
    srv = await start_server(secret=SECRET, frame_rate_per_second=0.01, frame_burst=20)
    async with aiohttp.ClientSession() as http:
        ws = await _open_booth(http, srv, demo, "ping-booth")
        closed = asyncio.create_task(_until_closed(ws))
        sent = await _stream(ws, 300, "3", closed)  # engine.io pongs nobody asked for
        async with asyncio.timeout(20):
            await closed
    assert sent < 300 or closed.done()


async def test_a_flood_of_bytes_closes_the_connection(start_server: Any, demo: dict[str, str]) -> None:
    srv = await start_server(secret=SECRET, byte_rate_per_second=1, byte_burst=65_536)
    async with aiohttp.ClientSession() as http:
        ws = await _open_booth(http, srv, demo, "fat-booth")
        closed = asyncio.create_task(_until_closed(ws))
        await _stream(ws, 200, "2" + "x" * 60_000, closed)  # engine.io pings with 60 KB of padding
        async with asyncio.timeout(20):
            await closed


# --- item 6: reserved event names and garbage ------------------------------------------------------


async def _booth(clients: Any, srv: Any, demo: dict[str, str], subject: str) -> Client:
    c: Client = clients("/booth")
    await c.connect(srv.url, token(Role.BOOTH, subject, demo["intake_centre"], "/booth"))
    return c


async def test_reserved_event_names_are_unknown_and_run_no_hook(
        start_server: Any, clients: Any, demo: dict[str, str], redis: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    srv = await start_server(secret=SECRET)
    booth = await _booth(clients, srv, demo, "reserved-booth")
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    claim = key("connection", role="booth", subject="reserved-booth")
    assert await redis.get(claim)
    with caplog.at_level(logging.INFO):
        for name in ("connect", "disconnect", "connect_error"):
            for payload in (None, {}, {"token": "x"}):
                reply = await booth.call(name, payload)
                assert reply["error"]["code"] == "unknown_event", (name, reply)
            await booth.emit(name, {})  # unacked: no answer, and no hook either
        resumed = await booth.ok("resume")
    assert resumed["session"]["sid"] == ticket["sid"] and resumed["session"]["state"] == "waiting"
    assert await redis.get(claim), "the disconnect hook ran for a client's 'disconnect' event"
    assert any(c.subject == "reserved-booth" for c in srv.app[HUB].conns.values())
    assert not [r for r in caplog.records if r.exc_info], "a client's reserved name logged a traceback"


async def test_repeated_reserved_names_drop_the_socket(start_server: Any, clients: Any, demo: dict[str, str],
                                                       redis: Any) -> None:
    srv = await start_server(secret=SECRET, rate_limit_per_second=100_000, rate_limit_burst=100_000)
    booth = await _booth(clients, srv, demo, "pushy-booth")
    gone = asyncio.Event()
    booth.sio.on("disconnect", lambda *a: gone.set(), namespace="/booth")
    for _ in range(100):
        if gone.is_set() or not booth.sio.connected:
            break
        await booth.emit("connect", {"token": "again"})
    async with asyncio.timeout(10):
        await gone.wait()
    async with asyncio.timeout(10):
        while await redis.get(key("connection", role="booth", subject="pushy-booth")):
            pass  # each GET yields to the server until the real disconnect's hook has run


GARBAGE = ["4x", '42/booth,{"not": "a list"}', "42/booth,[1,2", "42/booth,[]", "42/booth,[7]",
           "49/booth,", "44/booth,{}", "9", "7abc", "4" + "\u00ff" * 3, '42/booth,"text"']


async def test_garbage_packets_log_no_tracebacks_and_drop_the_socket(
        start_server: Any, demo: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    srv = await start_server(secret=SECRET)
    with caplog.at_level(logging.INFO):
        async with aiohttp.ClientSession() as http:
            ws = await _open_booth(http, srv, demo, "junk-booth")
            closed = asyncio.create_task(_until_closed(ws))
            for frame in GARBAGE * 10:
                if closed.done():
                    break
                await ws.send_str(frame)
            async with asyncio.timeout(20):
                await closed
    assert not [r for r in caplog.records if r.exc_info], "garbage logged a traceback"
    assert not [r for r in caplog.records if "Traceback" in r.getMessage()]
    lines = [r for r in caplog.records if "junk" in r.getMessage() or "garbage" in r.getMessage()]
    assert len(lines) <= 10, [r.getMessage() for r in lines]  # rate limited per connection
    closes = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("signaling")]
    assert len(closes) == 1, [r.getMessage() for r in closes]  # one warning for the closed connection
