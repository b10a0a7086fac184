"""Every error code a socket.io handler can answer is listed in its event's ``errors`` (issue 14
item 14: an empty ``note`` answered ``text_required``, which the protocol page did not list).

Found by static means, not by driving every error path: from each ``@hub.handle`` function, the
codes it raises (``code="…"`` and the queue service's ``_text(…, required=True)`` codes), followed
into the hub, the queue's live side, the queue service, the stores and the materials' live side
by the receiver of each call, and from a store's ``rw_*`` Redis function every ``fail('…'`` of it and of the local
Lua functions it calls. A code found there but missing from ``signaling/protocol.py`` fails here.

Every code is registered once, in ``window_server/domain/errors.py`` (``CODES``): every ``fail()``
of every ``.lua`` file under ``window_server/`` and every code a handler can raise must be there.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from signaling import protocol as P
from signaling.docs import events_markdown
from window_server.domain import errors

ROOT = Path(__file__).resolve().parents[2]
#: Every module that registers socket.io handlers (the features register them with the hub).
HANDLER_MODULES = ("window_server/queue/handlers_agent.py", "window_server/queue/handlers_booth.py",
                   "window_server/queue/handlers_device.py", "window_server/materials/handlers.py",
                   "window_server/dashboard/live.py")
# Codes every event may answer: the door's (schema, size, rate) and the transport's own.
GENERIC = {*P.GENERIC_ERRORS, "unknown_event"}
# A code in fail()'s first argument: a literal ('code') or from the table Python hands the Lua (E.code,
# E['code']), also inside a choice (cond and E.a or E.b); a literal compared with == or ~= is no code.
_CODE = re.compile(r"""\bE\.(\w+)|\bE\[['"](\w+)['"]\]|(?<!== )(?<!~= )['"](\w+)['"]""")


def lua_sources() -> list[Path]:
    """Every Lua file of the server, however the library is split."""
    return sorted((ROOT / "window_server").rglob("*.lua"))


def fail_codes(text: str) -> set[str]:
    """The codes of every ``fail(…)`` call in a Lua text."""
    codes: set[str] = set()
    for m in re.finditer(r"\bfail\(", text):
        depth, end = 0, m.end()
        while end < len(text) and not (depth == 0 and text[end] in ",)"):
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(text[end], 0)
            end += 1
        first = text[m.end():end]
        codes |= {next(g for g in c.groups() if g) for c in _CODE.finditer(first)}
    return codes


def _tree(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text(encoding="utf-8"))


def _functions(tree: ast.AST) -> dict[str, ast.AST]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _class_methods(path: str, cls: str) -> dict[str, ast.AST]:
    [node] = [n for n in _tree(path).body if isinstance(n, ast.ClassDef) and n.name == cls]
    return _functions(node)


@dataclass
class Lua:
    """The Lua functions (registered ``rw_*`` and local helpers) with their fail codes and callees."""

    fails: dict[str, set[str]] = field(default_factory=dict)
    calls: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Lua:
        lua = cls()
        text = "\n".join(p.read_text(encoding="utf-8") for p in lua_sources())
        starts = list(re.finditer(r"^(?:local function (\w+)|register\('(\w+)')", text, re.M))
        names = {m.group(1) or m.group(2) for m in starts}
        for i, m in enumerate(starts):
            body = text[m.end(): starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            name = m.group(1) or m.group(2)
            lua.fails[name] = lua.fails.get(name, set()) | fail_codes(body)
            lua.calls[name] = {c for c in re.findall(r"\b(\w+)\(", body) if c in names and c != name}
        return lua

    def codes(self, fn: str, seen: set[str] | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        if fn in seen or fn not in self.fails:
            return set()
        seen.add(fn)
        out = set(self.fails[fn])
        for callee in self.calls[fn]:
            out |= self.codes(callee, seen)
        return out


class Scanner:
    """Follows calls by their receiver: live.queue → QueueService, hub → Hub, live → QueueLive, …"""

    def __init__(self) -> None:
        self.lua = Lua.load()
        self.where = {
            "QueueService": _class_methods("window_server/queue/service.py", "QueueService"),
            "QueueStore": _class_methods("window_server/queue/store.py", "QueueStore"),
            "LiveStore": _class_methods("window_server/queue/live_store.py", "LiveStore"),
            "QueueLive": _class_methods("window_server/queue/live.py", "QueueLive"),
            "MaterialStore": _class_methods("window_server/materials/store.py", "MaterialStore"),
            "MaterialsLive": _class_methods("window_server/materials/handlers.py", "MaterialsLive"),
            "Hub": _class_methods("signaling/hub.py", "Hub"),
        }
        self.receivers = {  # (the class whose code it is, the receiver's text) -> the callee's class
            ("handler", "hub"): "Hub", ("handler", "live"): "QueueLive", ("handler", "live.queue"): "QueueService",
            ("handler", "live.store"): "QueueStore", ("handler", "live.views"): "LiveStore",
            ("Hub", "self"): "Hub",
            ("QueueLive", "self"): "QueueLive", ("QueueLive", "self.queue"): "QueueService",
            ("QueueLive", "self.store"): "QueueStore", ("QueueLive", "self.views"): "LiveStore",
            ("QueueService", "self.store"): "QueueStore", ("QueueService", "self"): "QueueService",
            ("QueueStore", "self"): "QueueStore", ("MaterialStore", "self.store"): "QueueStore",
            ("MaterialsLive", "self"): "MaterialsLive", ("MaterialsLive", "self.store"): "MaterialStore",
            ("MaterialsLive", "self.queue"): "QueueService", ("MaterialsLive", "self.queue.store"): "QueueStore",
            ("handler", "materials"): "MaterialsLive",
        }
        #: Injected callables, as the composition root wires them: (class, the call's text) -> method.
        self.injected = {("Hub", "self.members"): ("LiveStore", "members"),
                         ("MaterialsLive", "self.members"): ("LiveStore", "members")}

    def codes(self, fn: ast.AST, ctx: str, seen: set[tuple[str, str]]) -> set[str]:
        out: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("rw_"):
                out |= self.lua.codes(node.value)
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    out.add(kw.value.value)
            f = node.func
            if isinstance(f, ast.Name) and f.id == "_text" and any(
                    k.arg == "required" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords):
                out.add(f"{ast.literal_eval(node.args[1])}_required")  # queue.service._text's code
            if not isinstance(f, ast.Attribute):
                continue
            receiver = ast.unparse(f.value)
            target, name = self.injected.get((ctx, ast.unparse(f)), (self.receivers.get((ctx, receiver), ""), f.attr))
            callee = self.where.get(target, {}).get(name)
            if callee is not None and (target, name) not in seen:
                seen.add((target, name))
                out |= self.codes(callee, target, seen)
        return out


def handlers() -> dict[tuple[str, str], ast.AST]:
    """(namespace, event) -> the function registered with ``@hub.handle(P.X, "event")``."""
    found: dict[tuple[str, str], ast.AST] = {}
    for path in HANDLER_MODULES:
        if not (ROOT / path).exists():
            continue
        for fn in _functions(_tree(path)).values():
            for deco in fn.decorator_list:  # type: ignore[attr-defined]
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "hub.handle":
                    ns, name = deco.args
                    assert isinstance(ns, ast.Attribute) and isinstance(name, ast.Constant)
                    found[(getattr(P, ns.attr), name.value)] = fn
    return found


def test_the_scan_finds_the_handlers_and_follows_calls_into_lua() -> None:
    found = handlers()
    specs = {(e.namespace, e.name) for e in P.EVENTS if e.direction is P.Direction.C2S}
    assert found and set(found) <= specs
    scanner = Scanner()
    accept = scanner.codes(found[(P.AGENT, "accept")], "handler", set())
    assert {"not_your_offer", "unknown_session"} <= accept  # from rw_accept and its Lua helpers


def test_every_code_a_handler_can_raise_is_listed_for_its_event() -> None:
    scanner = Scanner()
    events = {(e.namespace, e.name): e for e in P.EVENTS if e.direction is P.Direction.C2S}
    missing = {}
    for (ns, name), fn in handlers().items():
        raised = scanner.codes(fn, "handler", set()) - GENERIC
        if unlisted := raised - set(events[(ns, name)].errors):
            missing[f"{ns} {name}"] = sorted(unlisted)
    assert missing == {}, "add these to the event's errors in signaling/protocol.py (and regenerate the docs)"
    undefined = {c for e in events.values() for c in e.errors} - set(P.ERROR_CODES)
    assert undefined == set()


def test_every_lua_fail_code_is_registered() -> None:
    found = {p.relative_to(ROOT).as_posix(): fail_codes(p.read_text(encoding="utf-8")) for p in lua_sources()}
    every = set().union(*found.values())
    assert {"unknown_session", "illegal_transition", "not_your_offer"} <= every, "the scan finds no fail() codes"
    unregistered = {path: sorted(codes - set(errors.CODES)) for path, codes in found.items() if codes - set(errors.CODES)}
    assert unregistered == {}, "register these codes in window_server/domain/errors.py"


def test_every_code_a_handler_can_raise_is_registered() -> None:
    scanner = Scanner()
    raised = {c for fn in handlers().values() for c in scanner.codes(fn, "handler", set())}
    assert raised - set(errors.CODES) == set()


def test_the_protocol_documents_every_registered_code_once() -> None:
    assert {c.code: c.meaning for c in errors.CODES.values()} == P.ERROR_CODES
    table = events_markdown().split("### Error codes")[1]
    rows = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert sorted(rows) == sorted(errors.CODES) and len(rows) == len(set(rows))


def test_event_error_lists_have_no_repeats_and_no_generic_codes() -> None:
    for e in P.EVENTS:
        assert len(e.errors) == len(set(e.errors)), f"{e.namespace} {e.name} lists a code twice"
        assert not set(e.errors) & GENERIC, f"{e.namespace} {e.name} lists a code every event may answer"
    for line in events_markdown().splitlines():
        if line.startswith("Errors: "):
            codes = re.findall(r"`(\w+)`", line)
            assert len(codes) == len(set(codes)), line
