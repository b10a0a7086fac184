"""Load the centre chain and the matter catalogue from TOML files (the I/O shell).

The pure validation lives in ``window_server.domain.catalogue``; this module only reads bytes,
parses TOML and names the file and line of a syntax error. It blocks, so call it at start
(from ``__main__`` or an app factory), not from a running event loop's hot path.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pypinyin import Style, lazy_pinyin

from window_server.domain.catalogue import Catalogue, CatalogueError, Matter, parse_catalogue

DEMO_CENTRES = "centres.toml"
DEMO_MATTERS = "matters.toml"

_AT_LINE = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_AT_END = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)$")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _read(path: Path | None, demo_name: str) -> tuple[dict[str, Any], str]:
    """Return the parsed TOML document and the source name used in error messages."""
    if path is None:
        source = demo_name
        try:
            data = resources.files("window_server.data").joinpath(demo_name).read_bytes()
        except OSError as exc:
            raise CatalogueError(source, None, None, f"cannot read the demo file: {exc}") from exc
    else:
        source = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CatalogueError(source, None, None, f"cannot read file: {reason}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogueError(source, f"line {line}", None, "not valid UTF-8") from None
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute: the position is in the text.
        message = str(exc)
        if m := _AT_LINE.match(message):
            where, message = f"line {m['line']}, column {m['col']}", m["msg"]
        elif m := _AT_END.match(message):
            where, message = f"line {text.count(chr(10)) + 1} (end of file)", m["msg"]
        else:
            where = None
        raise CatalogueError(source, where, None, f"TOML syntax error: {message}") from None


def load_catalogue(centres_file: Path | None = None, matters_file: Path | None = None) -> Catalogue:
    """Read and validate the chain and catalogue; None means the packaged demo file."""
    centres_doc, centres_source = _read(centres_file, DEMO_CENTRES)
    matters_doc, matters_source = _read(matters_file, DEMO_MATTERS)
    return parse_catalogue(centres_doc, matters_doc, centres_source, matters_source)


def pinyin_keys(text: str) -> tuple[str, str] | None:
    """Return the full pinyin (toneless, no spaces) and the initials of the Chinese in ``text``.

    企业设立登记 → ("qiyeshelidengji", "qysldj"); None for a text without Chinese. Everything
    that is not a Chinese character (punctuation, 《》, Latin words) is left out.
    """
    if not _HAN.search(text):
        return None
    syllables = lazy_pinyin(text, errors="ignore")  # phrase-aware: 银行 yin hang, 重庆 chong qing
    return "".join(syllables), "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore"))


def search_keys(matter: Matter) -> dict[str, list[str]]:
    """The pinyin and the initials of a matter's name and of its Chinese aliases, for the kiosk's
    search (name first): computed once when the catalogue is served, never in the page."""
    keys = [k for text in (matter.name_zh, *matter.aliases) if (k := pinyin_keys(text))]
    return {"pinyin": [k[0] for k in keys], "initials": [k[1] for k in keys]}
