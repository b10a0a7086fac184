"""The device agent's control API: 127.0.0.1 only, the kiosk's origin only, no foreign Host."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import SyntheticCamera
from citizen_client.control import NotLoopback, start_control

KIOSK = "http://127.0.0.1:8080"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def agent() -> Any:
    camera = SyntheticCamera(seed=1)
    await camera.open()
    yield DeviceAgent(AgentConfig(server=KIOSK, booth="b-01", token="t"), camera)
    await camera.close()


def listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) that LISTEN on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                found.add(addr)
    return found


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "localhost"])
async def test_the_control_api_refuses_any_address_but_127_0_0_1(agent: DeviceAgent, host: str) -> None:
    with pytest.raises(NotLoopback):
        await start_control(agent, 0, origins=frozenset({KIOSK}), host=host)


async def test_the_control_api_listens_on_127_0_0_1_only(agent: DeviceAgent) -> None:
    runner, port = await start_control(agent, 0, origins=frozenset({KIOSK}))
    try:
        assert listeners(port) == {"0100007F"}  # 127.0.0.1, and nothing on 0.0.0.0 or ::
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/status") as resp:
                status = await resp.json()
                assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            assert status["connected"] is False and status["camera"]["still"] == [3264, 2448]
            assert "token" not in str(status)
            async with http.get(f"http://127.0.0.1:{port}/preview.jpg") as resp:
                body = await resp.read()
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert resp.content_type == "image/jpeg" and image.shape == (360, 640, 3)
    finally:
        await runner.cleanup()


async def test_cors_answers_the_kiosk_origin_only_and_foreign_hosts_are_refused(agent: DeviceAgent) -> None:
    runner, port = await start_control(agent, 0, origins=frozenset({KIOSK}))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/status", headers={"Origin": KIOSK}) as resp:
                assert resp.headers["Access-Control-Allow-Origin"] == KIOSK
            async with http.get(base + "/status", headers={"Origin": "http://evil.example"}) as resp:
                assert "Access-Control-Allow-Origin" not in resp.headers  # the browser hides the answer
            preflight = {"Origin": KIOSK, "Access-Control-Request-Method": "GET",
                         "Access-Control-Request-Private-Network": "true"}
            async with http.options(base + "/preview.jpg", headers=preflight) as resp:
                assert resp.status == 204 and resp.headers["Access-Control-Allow-Private-Network"] == "true"
            async with http.options(base + "/status", headers={**preflight, "Origin": "http://evil.example"}) as resp:
                assert resp.status == 403
            # DNS rebinding: a page of evil.example resolved to 127.0.0.1 still sends its own Host.
            async with http.get(base + "/status", headers={"Host": f"evil.example:{port}"}) as resp:
                assert resp.status == 403
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("args", "words"), [
    (["--server", KIOSK, "--booth", "b-01", "--token", "t", "--camera", "usb0"], "--camera"),
    (["--server", "ftp://x", "--booth", "b-01", "--token", "t"], "--server"),
    (["--server", KIOSK, "--booth", "b-01"], "RW_BOOTH_TOKEN"),
])
async def test_the_command_line_names_a_bad_argument(args: list[str], words: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citizen_client", *args, cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert proc.returncode == 2 and words in err.decode()
