"""The device agent survives a server killed mid-session and comes back on its own."""

from __future__ import annotations

import asyncio
import socket
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from citizen_client.control import start_control
from tests.service import running_service, service_env
from tests.signaling.conftest import token
from window_server.accounts.store import AccountStore, LoginPolicy
from window_server.domain.auth import Role

from .conftest import SECRET, Booth, receive_frames, serve_session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_agent_comes_back_after_the_server_is_killed_mid_session(
        redis: Any, redis_url: str, tmp_path: Any, catalogue: Any, make_settings: Any, clients: Any,
        demo: dict[str, str], start_agent: Any, specialists: Any) -> None:
    port = free_port()
    env = service_env(REDIS_URL=redis_url, RW_SECRET=SECRET, RW_DEMO="false", RW_LOG_LEVEL="WARNING",
                      RW_DATA_DIR=str(tmp_path / "data"))

    def server() -> Any:
        return running_service("--port", str(port), env=env, stderr=asyncio.subprocess.DEVNULL)

    store = AccountStore(redis, catalogue, LoginPolicy.from_settings(make_settings()), configured_secret=SECRET)
    _, booth_token = await store.add_booth("restart-booth-01", demo["intake_centre"])
    async with AsyncExitStack() as stack:
        proc, url = await stack.enter_async_context(server())
        booth = Booth(None, "restart-booth-01", booth_token, demo["intake_centre"])
        kiosk, agent_sock, sid = await serve_session(clients, url, booth, demo)
        device = await start_agent(url, booth.id, booth_token, backoff_max_s=1.0)
        control, control_port = await start_control(device, 0, origins=frozenset({url}))
        stack.push_async_callback(control.cleanup)
        await agent_sock.next("device_ready", lambda d: d["sid"] == sid)
        specialist = specialists(agent_sock, "spec-1")
        await specialist.offer(sid, "device", "preview")
        track = await specialist.track("preview")
        await receive_frames(track, 10)

        proc.kill()  # no goodbye: the sockets die with the process
        await proc.wait()
        await device.wait_for(lambda s: not s.connected, within=20)
        # Media is peer to peer: the preview keeps flowing while the server is down.
        await receive_frames(track, 15)

        proc2, url2 = await stack.enter_async_context(server())
        assert url2 == url
        state = await device.wait_for(lambda s: s.registered and s.registrations >= 2, within=30)
        assert state.connects >= 2 and state.session is not None and state.session["sid"] == sid
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{control_port}/status") as resp:
            status = await resp.json()
        assert status["connected"] and status["registered"] and status["registrations"] >= 2
        assert status["session"]["sid"] == sid

        # The specialist's console reconnects and asks for the preview again: a new peer connection.
        await agent_sock.close()
        again = clients("/agent")
        await again.connect(url, token(Role.SPECIALIST, "spec-1", demo["home_centre"], "/agent"))
        await again.next("session_state", lambda d: d.get("act") == "resume" and d["sid"] == sid)
        specialist2 = specialists(again, "spec-1")
        await specialist2.offer(sid, "device", "preview")
        await receive_frames(await specialist2.track("preview"), 10)
