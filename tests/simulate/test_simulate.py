"""The traffic simulator against a real server and a real Redis, time compressed.

Issue 20 (helper H3): every arrival is accounted for, the sessions it completed and the ratings
it gave are in the server's own figures (the dashboard's KPIs and session export), the CLI
refuses bad arguments with exit status 2, and ``--simulate`` starts the demo with traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer
from tests.service import seal_key_file
from window_server.simulate import AckRecorder, Shares, SimConfig, SimError, run_simulation
from window_server.simulate.cli import config_from
from window_server.simulate.model import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]

# Compressed 120x: a median handling of 6 min takes 3 s, a mean patience of 5 min 2.5 s.
SHARES = Shares(rate=0.9, transfer=0.25, hang_up=0.2)


async def _login(http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(base + "/api/login", json={"username": "chain-manager", "password": DEMO_PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return r.cookies["rw_session"].value


async def _kpis(http: aiohttp.ClientSession, base: str, cookie: str) -> dict[str, Any]:
    async with http.get(base + "/api/dashboard/kpis?group=total", headers={"Cookie": f"rw_session={cookie}"}) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return dict(body["total"])


async def test_a_short_run_is_accounted_for_and_in_the_servers_figures(
        start_server: Callable[..., Awaitable[RunningServer]]) -> None:
    srv = await start_server(demo=True, offer_timeout_seconds=2.0)
    ticks: list[Any] = []
    cfg = SimConfig(base=srv.url, booths=4, specialists=3, per_hour=100.0, minutes=16.0, speed=120.0, seed=7,
                    verify=True, drain_s=10.0, shares=SHARES)
    s = await run_simulation(cfg, on_tick=ticks.append)

    # every ticket is answered, abandoned or still waiting; every arrival got a ticket or is in line
    assert s.offered > 0 and s.answered > 0 and s.completed > 0 and s.rated > 0
    assert s.answered + s.abandoned + s.waiting == s.offered
    assert s.arrivals == s.offered + s.at_booth + s.refused
    assert s.completed <= s.answered and s.rated <= s.completed
    assert s.sl is not None and 0.0 <= s.sl <= 1.0 and s.asa_s is not None and s.aht_s is not None
    assert s.abandonment == s.abandoned / s.offered
    assert len(s.acks) >= 2 * s.offered and all(a > 0 for a in s.acks)  # a ticket, and its leave or more
    assert ticks, "the live summary was never called"
    # what the simulator was told was saved, the server's export has (verify=True)
    assert s.verified >= s.offered and s.lost == 0

    # The server's own figures (its dashboard, from its event log) count the same sessions. The
    # simulator's were taken when the drain ended; what was in flight then (an accept, a rating)
    # and what was cleared after (a held session completed, a waiting ticket left) the server
    # counts too, so those bound the difference (both 0 when the drain emptied every booth).
    cleared = int(s.server.get("cleared", 0))
    bounds = {"tickets": (s.offered, s.offered), "served": (s.answered, s.answered + s.waiting),
              "ratings": (s.rated, s.completed), "completed": (s.completed, s.completed + cleared),
              "abandoned": (s.abandoned, s.abandoned + cleared)}
    async with aiohttp.ClientSession() as http:
        cookie = await _login(http, srv.url)
        got: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                while True:  # the dashboard folds the event stream in within a moment
                    got = await _kpis(http, srv.url, cookie)
                    if all(lo <= (got.get(k) or 0) <= hi for k, (lo, hi) in bounds.items()):
                        break
                    await asyncio.sleep(0.2)
    bad = {k: (got.get(k), lo, hi) for k, (lo, hi) in bounds.items() if not lo <= (got.get(k) or 0) <= hi}
    assert not bad, (bad, s)


async def test_building_blocks_for_the_bench(start_server: Callable[..., Awaitable[RunningServer]]) -> None:
    """A SimBooth and a SimSpecialist used on their own, the recorder keeping every round trip."""
    from window_server.simulate import SimBooth, SimSpecialist, World
    from window_server.simulate.wire import new_http

    srv = await start_server(demo=True)
    cfg = SimConfig(base=srv.url)
    async with new_http() as http:
        world = World(cfg, http, recorder=AckRecorder())
        booth = SimBooth(world, "sh-municipal-01", "demo-sh-municipal-01")
        spec = SimSpecialist(world, "spec-sh-municipal", DEMO_PASSWORD)
        await spec.connect()
        await booth.connect()
        try:
            assert spec.centre == "sh-municipal"
            await spec.ask("presence", {"status": "available"})
            ok = await booth.ask("request_service", {"matter": "sh-310000-pension-transfer",
                                                     "consent": True})
            assert ok["sid"].startswith("RW")
            event, offer = await asyncio.wait_for(spec.inbox.get(), 10)
            while event != "offer":
                event, offer = await asyncio.wait_for(spec.inbox.get(), 10)
            assert offer["sid"] == ok["sid"]
            await spec.ask("accept", {"sid": ok["sid"]})

            # the booth's socket drops (as when its node dies): it connects again with a fresh token
            # and the server resumes its session
            assert booth.link is not None
            await booth.link.ws.close()
            _at, data = await asyncio.wait_for(booth.states.get(), 15)
            while data.get("act") != "resume":
                _at, data = await asyncio.wait_for(booth.states.get(), 15)
            assert data["sid"] == ok["sid"] and data["state"] == "in_service"
            assert len(booth.drops) == 1 and booth.drops[0][1] is not None
            assert (await booth.ask("resume", {}))["session"]["state"] == "in_service"

            await spec.ask("complete", {"sid": ok["sid"], "outcome": "consultation"})
            assert (await booth.ask("rate", {"sid": ok["sid"], "level": 5}))["sid"] == ok["sid"]
            with pytest.raises(Exception) as refused:
                await booth.ask("rate", {"sid": ok["sid"], "level": 4})
            assert getattr(refused.value, "code", "") == "already_rated"
            assert len(world.recorder.acks) == 7
            assert world.recorder.errors == {"already_rated": 1, "dropped": 1}
        finally:
            await booth.close()
            await spec.close()


# --- the command line ----------------------------------------------------------------------------


async def _run(*args: str, env: dict[str, str] | None = None, within: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", *args, cwd=ROOT, env=env or _env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(within):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_") and k != "REDIS_URL"}
    env.update(extra)
    return env


@pytest.mark.parametrize(("args", "message"), [
    (["--booths", "0", "--specialists", "1", "--per-hour", "10", "--minutes", "1"], "--booths must be at least 1"),
    (["--booths", "2", "--specialists", "1", "--per-hour", "-3", "--minutes", "1"], "--per-hour must be a positive"),
    (["--booths", "2", "--specialists", "1", "--per-hour", "10", "--minutes", "1", "--speed", "0"],
     "--speed must be a positive"),
    (["--booths", "2", "--specialists", "1", "--per-hour", "10", "--minutes", "1", "--base", "ftp://x"],
     "--base must start with http"),
    (["--booths", "2", "--specialists", "1", "--per-hour", "ten", "--minutes", "1"], "invalid float value"),
    (["--booths", "2", "--per-hour", "10", "--minutes", "1"], "--specialists"),
    (["--booths", "2", "--specialists", "1", "--per-hour", "10", "--minutes", "1", "--ca-file", "/nonexistent.pem"],
     "no such file"),
])
def test_bad_arguments_exit_2_with_a_message(args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        config_from(args)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "python -m window_server simulate: error:" in err


async def test_the_command_exits_2_on_bad_arguments() -> None:
    code, out, err = await _run("simulate", "--booths", "0", "--specialists", "1", "--per-hour", "10",
                                "--minutes", "1")
    assert code == 2, (out, err)
    assert "--booths must be at least 1" in err


async def test_more_booths_than_the_demo_chain_has_is_said_clearly(
        start_server: Callable[..., Awaitable[RunningServer]]) -> None:
    srv = await start_server(demo=True)
    with pytest.raises(SimError) as refused:
        await run_simulation(SimConfig(base=srv.url, booths=30, specialists=1, per_hour=10, minutes=1))
    assert refused.value.usage and "the demo chain has 22 booths" in str(refused.value)
    with pytest.raises(SimError) as refused:
        await run_simulation(SimConfig(base=srv.url, booths=2, specialists=23, per_hour=10, minutes=1))
    assert refused.value.usage and "the demo chain has 22 specialists" in str(refused.value)


async def test_cli_run_prints_the_managers_figures(start_server: Callable[..., Awaitable[RunningServer]]) -> None:
    srv = await start_server(demo=True, offer_timeout_seconds=2.0)
    code, out, err = await _run("simulate", "--booths", "2", "--specialists", "2", "--per-hour", "60",
                                "--minutes", "6", "--speed", "120", "--drain", "8", "--base", srv.url, "--seed", "3")
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("simulate: SL ") and "ASA" in last and "abandonment" in last and "AHT" in last
    assert "service level" in out and "tickets" in out


# --- ./rw run --simulate ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_simulate_flag_needs_demo_mode() -> None:
    code, _out, err = await _run("--simulate", env=_env(RW_DEMO="false", RW_EVIDENCE_KEY=str(seal_key_file()),
                                                        RW_SECRET=secrets.token_hex(32)))
    assert code == 2 and "--simulate" in err and "demo mode" in err


@pytest.fixture
async def demo_with_traffic(tmp_path: Path) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``python -m window_server --simulate`` (embedded Redis under tmp), stopped with SIGINT."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", "--simulate", cwd=ROOT,
        env=_env(RW_PORT=str(port), RW_DATA_DIR=str(tmp_path / "data"), RW_DEMO_DEVICE_AGENT="false",
                 RW_LOG_LEVEL="WARNING"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_simulate_flag_starts_the_demo_with_traffic(
        demo_with_traffic: tuple[str, asyncio.subprocess.Process]) -> None:
    base, proc = demo_with_traffic
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while not any(line.startswith("Simulated traffic:") for line in seen):
            line = (await proc.stdout.readline()).decode()
            assert line, "the server exited: " + "".join(seen[-20:])
            seen.append(line)
    # its simulated specialists sign in and go available: the dashboard shows them
    async with aiohttp.ClientSession() as http:
        cookie = await _login(http, base)
        async with asyncio.timeout(30):
            while True:
                async with http.get(base + "/api/dashboard/specialists?centre=sh-municipal",
                                    headers={"Cookie": f"rw_session={cookie}"}) as r:
                    body = await r.json()
                status = {s["username"]: s["status"] for s in body.get("specialists", [])}
                if status.get("sim-s0001") in ("available", "offered", "in_service", "wrap_up"):
                    break
                await asyncio.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the traffic clears and the server stops cleanly
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0
