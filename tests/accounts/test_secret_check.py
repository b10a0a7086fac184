"""RW_SECRET: with RW_DEMO=false a short, placeholder or patterned signing secret refuses to start."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

import pytest

from tests.service import service_env
from window_server.domain.auth import secret_problem
from window_server.settings import SettingsError, build_settings

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "change-me-to-64-random-hex-characters"  # what deploy/env.example used to ship

WEAK = [
    PLACEHOLDER,
    "x",
    secrets.token_hex(16),  # 16 random bytes: half of what is asked
    secrets.token_urlsafe(24),
    "your-secret-here-" + secrets.token_hex(32),  # a placeholder word, however long
    "0123456789abcdef" * 4,  # 64 hex characters, no randomness
    "a" * 64,
    "ab" * 40,
    secrets.token_hex(28) + "01234567",  # a long run such as 0123456789
    "EXAMPLE" + secrets.token_urlsafe(40),
]
STRONG = [secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)]


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_secret_refuses_to_start_outside_demo_mode(weak: str) -> None:
    with pytest.raises(SettingsError, match="RW_SECRET") as err:
        build_settings({"RW_DEMO": "false", "RW_SECRET": weak})
    assert len(weak) < 8 or weak not in str(err.value)  # the message never repeats the secret


@pytest.mark.parametrize("good", [*STRONG, ""])
def test_a_random_or_empty_secret_starts(good: str) -> None:
    assert build_settings({"RW_DEMO": "false", "RW_SECRET": good}).secret == good


def test_demo_mode_keeps_working_with_a_weak_secret() -> None:
    assert build_settings({"RW_DEMO": "true", "RW_SECRET": PLACEHOLDER}).secret == PLACEHOLDER
    assert secret_problem(PLACEHOLDER)  # ...and start-up warns about it (window_server/app.py)


def test_the_deployment_example_ships_no_usable_placeholder() -> None:
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    (value,) = [ln.split("=", 1)[1].strip() for ln in lines if ln.startswith("RW_SECRET=")]
    assert value == "" or secret_problem(value) is None


async def test_the_service_exits_with_status_2_naming_rw_secret() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", env=service_env(RW_DEMO="false", RW_SECRET=PLACEHOLDER),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _out, err = await proc.communicate()
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert proc.returncode == 2
    assert len(lines) == 1 and "RW_SECRET" in lines[0] and PLACEHOLDER not in lines[0]
