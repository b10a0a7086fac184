"""The dependency rule and the package map: a pure domain core, the tree docs/architecture.md draws."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from redis.commands import AsyncCoreCommands, AsyncRedisModuleCommands

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


# --- signaling is a transport; packages import each other without a circle ---------------------

SERVER_PACKAGES = ("signaling", "agent_console", "citizen_client")


def _package_of(module: str) -> str | None:
    """The node a module belongs to in the dependency graph: ``signaling``, ``window_server.<package>``,
    or a module of window_server's top level (``window_server.app``, ``.appkeys``, ``.settings``, …).

    Imports under TYPE_CHECKING count too: a type is a dependency.
    """
    parts = module.split(".")
    if parts[0] in SERVER_PACKAGES:
        return parts[0]
    if parts[0] == "window_server" and len(parts) > 1:
        return f"window_server.{parts[1]}"  # a package, or a top-level module as a node of its own
    return None


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for top in ("signaling", "window_server", "agent_console", "citizen_client"):
        for path in (ROOT / top).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            here = _package_of(module)
            if here is None:
                continue
            deps = {p for name in _imports(path) if (p := _package_of(name)) is not None and p != here}
            graph.setdefault(here, set()).update(deps)
    return graph


def test_signaling_imports_nothing_from_window_server_but_the_domain() -> None:
    bad = {}
    for path in sorted((ROOT / "signaling").rglob("*.py")):
        names = {n for n in _imports(path) if n.startswith("window_server")}
        if wrong := {n for n in names if not (n == "window_server.domain" or n.startswith("window_server.domain."))}:
            bad[path.relative_to(ROOT).as_posix()] = sorted(wrong)
    assert bad == {}, "signaling is a transport: features register with it, it imports only the domain"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_packages() -> None:
    graph = _package_graph()
    assert "window_server.domain" in graph and "signaling" in graph
    assert _cycles(graph) == []


# --- Redis is spoken only by the stores -------------------------------------------------------

#: A call of one of these on a receiver that names Redis sends a command (or a script, or a pipeline).
REDIS_COMMANDS = frozenset(
    n for cls in (AsyncCoreCommands, AsyncRedisModuleCommands) for n in dir(cls) if not n.startswith("_")
) | {"pipeline", "pubsub", "transaction", "execute_command", "lock"}
#: Who may: the shared stores, each feature's own store module, the queue store's group commit,
#: the accounts' Redis side of connect (the revocation gate), and the cross-node bus
#: (python-socketio's Redis manager, connected through Sentinel by ``signaling/bus.py``).
REDIS_ALLOWED = ("window_server/store/", "window_server/queue/batch.py", "window_server/accounts/revocation.py",
                 "signaling/bus.py")


def _redis_calls(source: str) -> list[str]:
    """``line: receiver.command`` for each call of a Redis command on a receiver named for Redis.

    A static check: ``self.redis.hget(…)``, ``redis.pipeline()``, ``app[REDIS].ping()`` are found; a
    pipeline's own calls are not, but the pipeline is opened on a client named for Redis.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in REDIS_COMMANDS:
            receiver = ast.unparse(node.func.value)
            if re.search("redis", receiver, re.I):
                found.append(f"{node.lineno}: {receiver}.{node.func.attr}")
    return found


def _may_call_redis(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return rel.startswith(REDIS_ALLOWED) or name == "store.py" or name.endswith("_store.py")


def test_the_redis_scan_finds_commands() -> None:
    source = "async def f(self, request):\n    await self.redis.hget('k', 'f')\n    await request.app[REDIS].ping()\n" \
             "    d.get('k')\n    await self.store.session('s')\n"
    assert _redis_calls(source) == ["2: self.redis.hget", "3: request.app[REDIS].ping"]


def test_no_redis_command_outside_the_stores() -> None:
    bad = {}
    for top in ("window_server", "signaling"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not _may_call_redis(rel) and (calls := _redis_calls(path.read_text())):
                bad[rel] = calls
    assert bad == {}, "Redis is spoken by store/ and each feature's own store module only"
