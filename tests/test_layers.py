"""The dependency rule: the domain core is pure and imports no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parent.parent / "window_server" / "domain"
FORBIDDEN = {
    "aiohttp", "aiortc", "asyncio", "cv2", "engineio", "jinja2", "numpy", "os", "pathlib",
    "redis", "socket", "socketio", "subprocess", "time", "window_server.store",
    "window_server.http", "signaling",
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
