"""Run the service as operators do: a real ``python -m window_server`` process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from window_server.evidence.keys import write_new_key

ROOT = Path(__file__).resolve().parent.parent


def seal_key_file() -> Path:
    """One Ed25519 seal key for the test run (RW_DEMO=false requires RW_EVIDENCE_KEY)."""
    path = Path(tempfile.gettempdir()) / f"rw-test-seal-key-{os.getuid()}.pem"
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another test process made it first
            write_new_key(path)
    return path


def service_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Remote Window setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_") and k != "REDIS_URL"}
    env["RW_DEMO_DEVICE_AGENT"] = "false"  # one test turns it on; others would fight over its port
    env["RW_EVIDENCE_KEY"] = str(seal_key_file())
    env.update(extra)
    return env


@asynccontextmanager
async def running_service(
    *args: str, env: dict[str, str] | None = None, stderr: int | None = asyncio.subprocess.PIPE
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start the service on a free port; yield the process and its base URL; kill it after."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", "--port", "0", *args,
        env=env if env is not None else service_env(), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=stderr,
        start_new_session=True,  # its document workers are stopped with it (killpg below)
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, "the service exited before announcing its URL"
                if m := re.search(r"running at (http://\S+)", line):
                    break
        yield proc, m.group(1)
    finally:
        # the whole process group: worker processes inherit stdout and would keep wait() open
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
