"""The pages (console, kiosk, dashboard, guest) share one kit and take their constants from protocol.js.

Static checks over the JavaScript, no browser: the Chromium tests in tests/console, tests/booth and
tests/dashboard show the pages work; these show they stay built the agreed way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signaling.docs import protocol_js

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "window_server" / "static" / "shared"
PAGES = {  # URL prefix -> the page's own static folder
    "console": ROOT / "agent_console" / "static",
    "kiosk": ROOT / "citizen_client" / "kiosk" / "static",
    "dashboard": ROOT / "window_server" / "dashboard" / "static",
    "guest": ROOT / "window_server" / "guests" / "static",  # issue 19: reuses /console/static/media.js
}
SERVED = {  # what every page finds beside its own files (window_server/http/pages.py serve_assets)
    "shared": SHARED,
    "protocol": ROOT / "signaling" / "static",
    "vendor": ROOT / "window_server" / "static" / "vendor",
}
SOURCES = sorted({*SHARED.glob("*.js"), *(p for d in PAGES.values() for p in d.glob("*.js"))})
MAX_LINES = 500  # STYLE.md 14: split past ~500 lines


def _constants() -> dict[str, object]:
    text = protocol_js()
    body = text.split("export const PROTOCOL = Object.freeze(", 1)[1].split(");\n", 1)[0]
    return json.loads(body)


def _carried_lists(node: object, path: str = "PROTOCOL") -> dict[str, frozenset[str]]:
    """Every list of strings protocol.js carries, by its path."""
    out: dict[str, frozenset[str]] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_carried_lists(v, f"{path}.{k}"))
    elif isinstance(node, list) and len(node) > 1 and all(isinstance(x, str) for x in node):
        out[path] = frozenset(node)
    return out


def _code(text: str) -> str:
    """The JavaScript without comments (string literals kept)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)(^|[^:\\])//[^\n]*", r"\1", text)


_STRING_LIST = re.compile(r"""\[\s*((?:"[^"\n]*"|'[^'\n]*')(?:\s*,\s*(?:"[^"\n]*"|'[^'\n]*'))+)\s*,?\s*\]""")


def hard_coded_lists(text: str, carried: dict[str, frozenset[str]], vocabulary: frozenset[str]) -> list[str]:
    """Array literals of two or more strings that copy a list protocol.js carries, or that are made
    only of session states and presence statuses (name them: STATE.X, PRESENCE.X, PROTOCOL.…)."""
    found = []
    for m in _STRING_LIST.finditer(_code(text)):
        items = frozenset(s[1:-1] for s in re.findall(r""""[^"\n]*"|'[^'\n]*'""", m.group(1)))
        copies = [path for path, values in carried.items() if items == values]
        if copies or items <= vocabulary:
            found.append(f"{m.group(0)}" + (f" (copies {', '.join(copies)})" if copies else ""))
    return found


def _vocabulary() -> frozenset[str]:
    c = _constants()
    return frozenset(c["sessions"]["states"]) | frozenset(c["presence"]["statuses"])  # type: ignore[index]


def test_the_lint_sees_the_copies_this_session_removed() -> None:
    carried, vocabulary = _carried_lists(_constants()), _vocabulary()
    before = """
      const HELD = new Set(["in_service", "transferring", "reconnecting"]);
      const busy = ["offered", "in_service"].includes(S.presence);
      const STATUSES = ['available', 'offered', 'in_service', 'wrap_up', 'away', 'offline'];
      const VERDICT_REASONS = ["illegible", "cut_off", "glare", "wrong_document", "expired", "blurred", "other"];
    """
    assert len(hard_coded_lists(before, carried, vocabulary)) == 4
    fine = """
      const SCREENS = new Set(["waiting", "service"]);  // screens, not states
      if (["offer_expired", "not_your_offer"].includes(err.code)) clearOffer();
      const done = [STATE.COMPLETED, STATE.RATED];
      // ["in_service", "transferring"] in a comment
    """
    assert hard_coded_lists(fine, carried, vocabulary) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_hard_codes_a_list_protocol_js_carries(path: Path) -> None:
    found = hard_coded_lists(path.read_text(encoding="utf-8"), _carried_lists(_constants()), _vocabulary())
    assert found == [], "import it from protocol.js (PROTOCOL, STATE, PRESENCE) instead"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_one_dom_kit_and_one_translation_engine() -> None:
    for path in SOURCES:
        code = _code(path.read_text(encoding="utf-8"))
        if path.parent != SHARED:
            assert "document.createElement" not in code, f"{path.name}: build elements with shared/dom.js h()"
            assert "[data-i18n]" not in code, f"{path.name}: translate with shared/i18n.js createI18n()"
    for page in PAGES.values():
        words = (page / "i18n.js").read_text(encoding="utf-8")
        assert 'from "../shared/i18n.js"' in words and "createI18n(" in words, page


_IMPORT = re.compile(r"""import\s+(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\}\s*)?from\s+"([^"]+)";""")
_EXPORT = re.compile(r"export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+([\w$]+)")
_EXPORT_DESTRUCTURED = re.compile(r"export\s+(?:const\s*)?\{([^}]*)\}")


def _exports(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    names = set(_EXPORT.findall(text))
    for group in _EXPORT_DESTRUCTURED.findall(text):
        names |= {re.split(r":| as ", n)[-1].strip() for n in group.split(",") if n.strip()}
    return names


def _resolve(page: str, importer: Path, spec: str) -> Path:
    if spec.startswith(f"/{page}/"):
        folder, _, rest = spec[len(page) + 2:].partition("/")
        return (PAGES[page] if folder == "static" else SERVED[folder]) / rest
    for other, folder_path in PAGES.items():  # another page's own module, e.g. /console/static/media.js
        if spec.startswith(f"/{other}/static/"):
            return folder_path / spec[len(other) + len("/static/") + 1:]
    target = (importer.parent / spec).resolve()
    if target.parent.parent == importer.parent.parent and target.parent.name in SERVED and importer.parent != SHARED:
        return SERVED[target.parent.name] / target.name  # ../shared/x.js, ../protocol/x.js from /<page>/static/
    return target


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_import_of_a_page_resolves_to_a_served_export(page: str) -> None:
    """Each page's module graph, walked from its own folder: every file exists where the page's URL
    prefix serves it, and every imported name is exported there (a missing one fails in the browser
    only when the module loads)."""
    todo, seen = sorted(PAGES[page].glob("*.js")), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for default, names, spec in _IMPORT.findall(_code(path.read_text(encoding="utf-8"))):
            target = _resolve(page, path, spec)
            assert target.is_file(), f"{path.name} imports {spec}: not served"
            if target.parent == SERVED["vendor"]:
                continue
            wanted = {n.split(" as ")[0].strip() for n in names.split(",") if n.strip()}
            missing = wanted - _exports(target)
            assert not missing, f"{path.name} imports {sorted(missing)} from {spec}, which does not export them"
            assert not default, f"{path.name}: our modules have no default export ({spec})"
            todo.append(target)
