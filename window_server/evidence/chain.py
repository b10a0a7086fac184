"""The per-session evidence hash chain: canonical bytes, entries and their links (pure).

An entry is ``{"n", "kind", "ref", "sha256", "at", "prev"}``: its place (0-based), what kind of item
it stands for, which one (``ref``), the SHA-256 of the item's bytes, when it was chained (epoch ms),
and the SHA-256 of the previous entry's canonical bytes (``GENESIS`` for the first). Changing,
dropping or inserting any entry breaks every link after it; the seal signs the last one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

GENESIS = "0" * 64
ENTRY_FIELDS = ("n", "kind", "ref", "sha256", "at", "prev")


def canonical(obj: Any) -> bytes:
    """The one byte form that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: dict[str, Any]) -> str:
    return sha256_hex(canonical(entry))


def make_entry(*, n: int, kind: str, ref: str, sha256: str, at: int, prev: str) -> dict[str, Any]:
    return {"n": n, "kind": kind, "ref": ref, "sha256": sha256, "at": at, "prev": prev}


def parse_head(raw: str | None) -> tuple[int, str]:
    """``"<count>:<hash>"`` as stored beside the chain; an empty chain is ``(0, GENESIS)``."""
    if not raw:
        return 0, GENESIS
    count, _, head = raw.partition(":")
    return int(count), head


def format_head(count: int, head: str) -> str:
    return f"{count}:{head}"


def chain_problems(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Every broken place of a chain, in words (empty when every entry links the one before)."""
    problems: list[str] = []
    prev = GENESIS
    for i, e in enumerate(entries):
        if set(e) != set(ENTRY_FIELDS):
            problems.append(f"chain entry {i}: fields {sorted(e)} are not {sorted(ENTRY_FIELDS)}")
        if e.get("n") != i:
            problems.append(f"chain entry {i}: numbered {e.get('n')!r}")
        if e.get("prev") != prev:
            problems.append(f"chain entry {i} ({e.get('kind')} {e.get('ref')}): does not link entry {i - 1}")
        prev = entry_hash(e)
    return problems


def head_of(entries: Sequence[dict[str, Any]]) -> str:
    """The hash of the last entry (``GENESIS`` for an empty chain)."""
    return entry_hash(entries[-1]) if entries else GENESIS
