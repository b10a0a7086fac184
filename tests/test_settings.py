"""Settings: one table, CLI over environment over default, invalid values named at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from window_server.settings import SettingsError, build_settings, parse_cli, setting_rows


def test_defaults_serve_loopback_on_8080_with_embedded_redis() -> None:
    s = build_settings({})
    assert (s.host, s.port, s.redis_url, s.demo) == ("127.0.0.1", 8080, "", True)


def test_environment_then_cli_override() -> None:
    env = {"RW_PORT": "9000", "REDIS_URL": "redis://127.0.0.1:7000/0", "RW_DEMO": "no"}
    s = build_settings(env)
    assert (s.port, s.redis_url, s.demo) == (9000, "redis://127.0.0.1:7000/0", False)
    _, cli = parse_cli(["--port", "9100", "--data-dir", "/tmp/rw"])
    s = build_settings(env, cli)
    assert s.port == 9100 and s.data_dir == Path("/tmp/rw")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RW_PORT": "eighty"}, "RW_PORT"),
        ({"RW_PORT": "70000"}, "RW_PORT"),
        ({"RW_DEMO": "maybe"}, "RW_DEMO"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"RW_LOG_LEVEL": "LOUD"}, "RW_LOG_LEVEL"),
        ({"RW_REDIS_TIMEOUT": "0"}, "RW_REDIS_TIMEOUT"),
    ],
)
def test_invalid_values_fail_naming_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        build_settings(env)


def test_every_setting_has_env_and_help() -> None:
    rows = setting_rows()
    assert len({r[1] for r in rows}) == len(rows)
    assert all(r[3] for r in rows)
