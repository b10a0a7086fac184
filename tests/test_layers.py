"""The dependency rule and the package map: a pure domain core, the tree docs/architecture.md draws."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "window_server" / "domain"
FORBIDDEN = {
    "aiohttp", "aiortc", "asyncio", "cv2", "engineio", "jinja2", "numpy", "os", "pathlib",
    "redis", "socket", "socketio", "subprocess", "time", "window_server.store",
    "window_server.http", "window_server.queue", "window_server.materials", "window_server.accounts",
    "window_server.runtime", "window_server.dashboard", "window_server.documents", "signaling",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_no_io(path: Path) -> None:
    bad = {n for n in _imports(path) for f in FORBIDDEN if n == f or n.startswith(f + ".")}
    assert not bad, f"{path.name} imports {sorted(bad)}; the domain core must stay pure"


#: What window_server's own top level may hold: the composition root, the settings, the CLI.
TOP_LEVEL = {"__init__.py", "__main__.py", "app.py", "appkeys.py", "settings.py", "cli.py"}


def _packages() -> set[str]:
    """Every Python package of the server and the pages, as docs/architecture.md names them."""
    found = {f"{d.name}/" for d in (ROOT / "signaling", ROOT / "agent_console", ROOT / "citizen_client")}
    found |= {f"window_server/{d.name}/" for d in (ROOT / "window_server").iterdir()
              if (d / "__init__.py").is_file()}
    return found


def _mapped() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("<!-- packages:begin -->"):text.index("<!-- packages:end -->")]
    return set(re.findall(r"^\| `([^`]+/)` \|", table, re.M))


def test_the_package_map_matches_the_tree() -> None:
    assert _mapped() == _packages()


def test_window_servers_top_level_is_the_composition_root_settings_and_cli() -> None:
    assert {p.name for p in (ROOT / "window_server").glob("*.py")} <= TOP_LEVEL
