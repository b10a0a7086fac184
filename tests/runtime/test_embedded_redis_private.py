"""The embedded Redis keeps its secrets to itself (issue 14 item 13), and the cookie is Secure
by default off loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis as redis_sync
from redis.exceptions import AuthenticationError, ResponseError

from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import build_settings


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_a_private_directory_a_password_and_both_kept_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    data.mkdir(mode=0o755)
    (data / "redis.log").write_text("an older version's log\n")
    (data / "redis.log").chmod(0o644)
    server = EmbeddedRedis(data)
    url = server.start()
    try:
        assert url == server.url and url.startswith("redis://:") and "@127.0.0.1:" in url
        with redis_sync.Redis.from_url(url) as client:
            client.set("rw:secret", "the signing key")
        with pytest.raises((AuthenticationError, ResponseError)), redis_sync.Redis(port=server.port) as anyone:
            anyone.get("rw:secret")  # no password, no data
        assert server.proc is not None
        password = url.split("@")[0].removeprefix("redis://:")
        assert password.encode() not in Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()  # not for ps
    finally:
        server.stop()  # the AOF is flushed
    modes = _modes(data)
    assert any(name.startswith("appendonlydir/") for name in modes)
    assert {name: mode for name, mode in modes.items() if (data / name).is_dir() and mode != 0o700} == {}
    assert {name: mode for name, mode in modes.items() if (data / name).is_file() and mode != 0o600} == {}
    again = EmbeddedRedis(data)
    assert again.start() == url.replace(f":{server.port}/", f":{again.port}/")  # the same password
    try:
        with redis_sync.Redis.from_url(again.url) as client:
            assert client.get("rw:secret") == b"the signing key"
    finally:
        again.stop()


@pytest.mark.parametrize(("env", "secure"), [
    ({}, False),  # 127.0.0.1: the local demo over plain HTTP
    ({"RW_HOST": "::1"}, False),
    ({"RW_HOST": "0.0.0.0"}, True),
    ({"RW_HOST": "10.1.2.3"}, True),
    ({"RW_HOST": "0.0.0.0", "RW_COOKIE_SECURE": "false"}, False),  # an operator may still say so
    ({"RW_COOKIE_SECURE": "true"}, True),
])
def test_the_login_cookie_is_secure_unless_the_server_listens_on_loopback(env: dict[str, str], secure: bool) -> None:
    assert build_settings(env).cookie_secure is secure
