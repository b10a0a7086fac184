"""The service as an operator runs it: a real ``python -m window_server`` process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.service import running_service, service_env
from window_server.settings import setting_rows

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "window_server", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def _exited(pid: int, limit: float = 10.0) -> None:
    """Wait until a process that is not our child has terminated (pidfd becomes readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(fd, done.set_result, None)
    try:
        async with asyncio.timeout(limit):
            await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _redis_child(pid: int) -> int:
    """The service's embedded redis-server (its other children are document workers)."""
    kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    (redis_pid,) = [k for k in kids if Path(f"/proc/{k}/comm").read_text().strip() == "redis-server"]
    return redis_pid


def _child_cmdlines(pid: int) -> dict[int, bytes]:
    """The service's child processes and their command lines."""
    kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return {k: Path(f"/proc/{k}/cmdline").read_bytes() for k in kids}


def _service(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    """The service with the embedded Redis under tmp_path."""
    return running_service("--data-dir", str(tmp_path / "var"), *args)


async def test_help_lists_every_setting() -> None:
    code, out, _ = await _run("--help", env=service_env())
    assert code == 0
    for _name, env, _default, _help in setting_rows():
        assert env in out


async def test_bad_setting_fails_with_one_line_naming_it() -> None:
    code, _, err = await _run(env=service_env(RW_PORT="eighty"))
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "RW_PORT" in lines[0]


async def test_missing_redis_server_binary_is_named_with_the_fix(tmp_path: Path) -> None:
    code, _, err = await _run("--data-dir", str(tmp_path), env=service_env(PATH=str(tmp_path)))
    assert code == 1
    assert "redis-server was not found" in err and "REDIS_URL" in err


async def test_port_in_use_is_named_with_the_fix(redis_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = await _run("--port", str(port), env=service_env(REDIS_URL=redis_url))
    assert code == 1
    assert f"port {port}" in err and "already in use" in err and "--port" in err


async def test_embedded_redis_serves_and_is_stopped_on_sigterm(tmp_path: Path) -> None:
    async with _service(tmp_path) as (proc, url):
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
            assert resp.status == 200
        redis_pid = _redis_child(proc.pid)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        await _exited(redis_pid)
    assert (tmp_path / "var" / "redis" / "appendonlydir").is_dir()


async def test_demo_mode_runs_the_demo_booths_device_agent(tmp_path: Path) -> None:
    async with running_service("--data-dir", str(tmp_path / "var"),
                               env=service_env(RW_DEMO_DEVICE_AGENT="true")) as (proc, url):
        agents = {k: cmd for k, cmd in _child_cmdlines(proc.pid).items() if b"citizen_client" in cmd}
        assert len(agents) == 1
        ((agent_pid, cmdline),) = agents.items()
        assert b"sh-huangpu-01" in cmdline
        assert b"demo-sh-huangpu-01" not in cmdline  # the token goes by environment, not argv
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        await _exited(agent_pid)


async def test_embedded_redis_dies_with_a_killed_service(tmp_path: Path) -> None:
    async with _service(tmp_path) as (proc, _url):
        redis_pid = _redis_child(proc.pid)
        proc.kill()  # the service alone: its Redis must follow it by itself
        await _exited(proc.pid)
        await _exited(redis_pid)  # PR_SET_PDEATHSIG: no redis-server is left behind


async def test_a_second_service_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    async with _service(tmp_path) as (proc, url):
        redis_pid = _redis_child(proc.pid)
        code, _, err = await _run("--data-dir", str(tmp_path / "var"), "--port", "0", env=service_env())
        assert code == 1
        assert "in use by another running Remote Window" in err and "RW_DATA_DIR" in err
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
            assert resp.status == 200  # the first one is untouched, and so is its Redis
        assert _redis_child(proc.pid) == redis_pid
