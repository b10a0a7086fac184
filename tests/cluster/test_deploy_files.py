"""deploy/ is the templates rendered with production values, and the local cluster runs the same templates.

``python -m window_server cluster render deploy/`` writes deploy/; edit the templates in
window_server/cluster/templates/, never the shipped files.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from window_server.cluster import Cluster, Ports
from window_server.cluster.config import DEPLOY_FILES, iter_templates, production_files
from window_server.cluster.tls import ensure_tls
from window_server.settings import Settings, build_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FIX = "run `python -m window_server cluster render deploy/` after editing window_server/cluster/templates/"


@pytest.mark.parametrize("name", sorted(DEPLOY_FILES))
def test_the_shipped_file_is_its_template_rendered_with_production_values(name: str) -> None:
    assert (DEPLOY / name).read_text() == production_files()[name].text, f"deploy/{name} differs: {FIX}"


def test_deploy_holds_only_rendered_files() -> None:
    assert {p.name for p in DEPLOY.iterdir()} == set(DEPLOY_FILES), FIX


def test_the_local_cluster_renders_the_same_templates_as_deploy(tmp_path: Path) -> None:
    local = Cluster(tmp_path, nodes=2, ports=Ports.default(2)).configs()
    shipped = {r.template for r in production_files().values()}
    used_locally = {r.template for r in local.values()}
    # every shipped kind of file is also what the cluster runs (the systemd unit excepted: no
    # systemd here, the runner starts `python -m window_server` with the same env file)
    assert shipped - used_locally == {"remote-window@.service.j2"}
    assert used_locally - shipped == {"nginx-main.conf.j2"}  # what Debian's /etc/nginx/nginx.conf is
    assert set(iter_templates()) == shipped | used_locally  # no template is dead


def test_the_rendered_nginx_configuration_is_valid(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed")
    c = Cluster(tmp_path, nodes=2, ports=Ports.free(2))
    ensure_tls(tmp_path / "tls")
    c.write_configs()
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(tmp_path / "conf" / "nginx-main.conf"),
                           "-e", str(tmp_path / "logs" / "nginx-error.log")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def _env_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def test_env_example_names_only_real_settings_and_is_accepted() -> None:
    env = _env_file((DEPLOY / "env.example").read_text())
    known = {f.metadata["env"] for f in Settings.__dataclass_fields__.values()}
    assert set(env) - known == set(), "deploy/env.example names settings that do not exist"
    settings = build_settings(env)
    assert settings.redis_url.startswith("redis+sentinel://") and not settings.demo


def test_coturn_and_nodes_share_the_turn_secret_and_redis_its_password() -> None:
    files = production_files()
    env = _env_file(files["env.example"].text)
    turn = files["turnserver.conf"].text
    assert f"static-auth-secret={env['RW_TURN_SECRET']}" in turn.splitlines()
    assert "use-auth-secret" in turn.splitlines() and "allow-loopback-peers" not in turn
    password = files["redis.conf"].values["password"]
    assert f"://:{password}@" in env["REDIS_URL"]
    assert f"sentinel auth-pass mymaster {password}" in files["sentinel.conf"].text
