"""Offline verification of an evidence package, and of the whole seal log.

``verify_package(zip, public_key)`` needs nothing but the zip and the public key. It checks the
manifest's bytes are canonical and every field in it is accounted for; the chain links entry to
entry; the seal names this session, counts the chain and signs its head with the given key; the
seal log's next entry (when the package has one) links the seal and is signed; each purge entry
is the session's and signed; each item's member hashes to its chain entry; no member is missing
(unless a purge entry names it) or added; the manifest's facts are ``facts.json``'s.

The answer is ``OK`` or one line per item that was changed, is missing or was added:
``changed: stills/m…/original.jpg``, ``missing: recording/seg0/3.webm``, ``added: extra.txt``,
``changed: manifest.json (why)``. When the manifest's own chain or seal does not hold, the
members cannot be judged against it and only the manifest is named.

``verify_log(entries, public_key)`` walks the seal log: every entry links the one before, is
numbered by its place and signed; the log's head names the last.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from window_server.evidence.chain import (
    GENESIS,
    canonical,
    chain_problems,
    entry_hash,
    head_of,
    parse_head,
)
from window_server.evidence.keys import key_id, verify_signature
from window_server.evidence.package import (
    FORMAT,
    MANIFEST,
    MANIFEST_KEYS,
    item_path,
    manifest_bytes,
    material_formats,
    paths_for,
)

SEAL_FIELDS = frozenset({"kind", "sid", "count", "head", "at", "seq", "prev", "key", "sig"})
PURGE_FIELDS = frozenset({"kind", "sid", "what", "by", "why", "at", "seq", "prev", "key", "sig"})
ITEM_FIELDS = frozenset({"n", "path", "kind", "ref", "sha256", "size"})


@dataclass
class Report:
    """What a verification found: problems (one line each) and, when it holds, notes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return ["OK", *self.notes] if self.ok else list(self.problems)


def signed_ok(entry: dict[str, Any], public: Ed25519PublicKey) -> bool:
    """Whether ``entry``'s ``sig`` signs the rest of it."""
    body = {k: v for k, v in entry.items() if k != "sig"}
    return verify_signature(public, canonical(body), entry.get("sig"))


def _sha_of(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int] | None:
    """SHA-256 and size of a member (None if it cannot be read back: a broken member)."""
    h = hashlib.sha256()
    size = 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None
    return h.hexdigest(), size


def verify_package(path: Path, public: Ed25519PublicKey) -> Report:
    """Verify the evidence package at ``path`` against ``public`` (see the module's doc)."""
    report = Report()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"changed: {path.name} (not a readable zip archive: {exc})")
        return report
    with zf:
        _verify(zf, public, report)
    return report


def _verify(zf: zipfile.ZipFile, public: Ed25519PublicKey, report: Report) -> None:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        if info.filename in members:
            report.problems.append(f"added: {info.filename} (a second member of that name)")
            continue
        members[info.filename] = info
    if MANIFEST not in members:
        report.problems.append(f"missing: {MANIFEST}")
        return
    raw = zf.read(members[MANIFEST])
    try:
        manifest = json.loads(raw)
    except ValueError:
        report.problems.append(f"changed: {MANIFEST} (not valid JSON)")
        return
    if not isinstance(manifest, dict):
        report.problems.append(f"changed: {MANIFEST} (not a JSON object)")
        return
    why: list[str] = []  # what is wrong with the manifest itself
    if manifest_bytes(manifest) != raw:
        why.append("not in its canonical form")
    if set(manifest) != MANIFEST_KEYS:
        why.append(f"fields {sorted(set(manifest) ^ MANIFEST_KEYS)} added or removed")
    if manifest.get("format") != FORMAT:
        why.append(f"format is not {FORMAT}")
    chain = manifest.get("chain")
    seal = manifest.get("seal")
    sid = manifest.get("sid")
    trusted = True  # the chain is the one the seal signs
    if not isinstance(chain, list) or not all(isinstance(e, dict) for e in chain):
        why.append("the chain is not a list of entries")
        chain, trusted = [], False
    elif problems := chain_problems(chain):
        why.extend(problems)
        trusted = False
    given = key_id(public)
    if not isinstance(seal, dict):
        why.append("the seal is missing")
        trusted = False
    else:
        seal_problems = _seal_problems(seal, sid, chain, public, given)
        why.extend(seal_problems)
        trusted = trusted and not seal_problems
        if manifest.get("key") != seal.get("key"):
            why.append("key is not the seal's")
        why.extend(_next_problems(manifest.get("next"), seal, public))
    purges = manifest.get("purges")
    if not isinstance(purges, list):
        why.append("purges is not a list")
        purges = []
    good_purges = []
    for i, p in enumerate(purges):
        if not isinstance(p, dict) or p.get("kind") != "purge" or set(p) != PURGE_FIELDS:
            why.append(f"purge entry {i} is not a purge entry")
        elif p.get("sid") != sid:
            why.append(f"purge entry {i} is of session {p.get('sid')}")
        elif not signed_ok(p, public):
            why.append(f"purge entry {i} (seal log entry {p.get('seq')}): the signature does not verify")
        else:
            good_purges.append(p)

    if not trusted:  # members cannot be judged against a chain the seal does not sign
        report.problems.append(_manifest_line(why))
        return

    hashes: dict[str, tuple[str, int] | None] = {}

    def member(path: str) -> tuple[str, int] | None:
        if path not in hashes:
            hashes[path] = _sha_of(zf, members[path]) if path in members else None
        return hashes[path]

    # the still's extensions: from materials.json if it is the chained one
    formats: dict[str, str] = {}
    for e in chain:
        if e.get("kind") == "materials" and (got := member(item_path("materials", ""))) and got[0] == e.get("sha256"):
            formats = material_formats(zf.read(members[item_path("materials", "")]))
    derived = paths_for(chain, formats)
    items = manifest.get("items")
    if not isinstance(items, list) or len(items) != len(chain):
        why.append("items do not match the chain")
        items = [None] * len(chain)
    purged_count: dict[int, int] = {}
    expected: set[str] = {MANIFEST}
    for i, (e, path) in enumerate(zip(chain, derived, strict=True)):
        item = items[i]
        if isinstance(item, dict) and set(item) == ITEM_FIELDS and isinstance(item.get("path"), str):
            if [item.get(k) for k in ("n", "kind", "ref", "sha256")] != [e["n"], e["kind"], e["ref"], e["sha256"]]:
                why.append(f"item {i} is not chain entry {i}")
            if item["path"] != path and not _still_alias(item["path"], path, e):
                why.append(f"item {i}'s path is not {path}")
            else:
                path = item["path"]
        else:
            why.append(f"item {i} is malformed")
            item = None
        expected.add(path)
        got = member(path)
        if got is None and path in members:
            report.problems.append(f"changed: {path} (cannot be read back)")
            continue
        if got is None:
            purge = next((p for p in good_purges if _purges(p, e)), None)
            if purge is not None:
                purged_count[int(purge["seq"])] = purged_count.get(int(purge["seq"]), 0) + 1
            else:
                report.problems.append(f"missing: {path}")
            continue
        sha, size = got
        if sha != e["sha256"]:
            report.problems.append(f"changed: {path}")
        elif item is not None and item.get("size") != size:
            why.append(f"item {i}'s size is not its member's")
    for name in members:
        if name not in expected:
            report.problems.append(f"added: {name}")

    # the facts shown in the manifest are the chained facts.json
    facts_path = item_path("facts", "")
    facts_entries = [e for e in chain if e["kind"] == "facts"]
    got = member(facts_path) if facts_path in members else None
    if facts_entries and got is not None and got[0] == facts_entries[0]["sha256"]:
        try:
            facts = json.loads(zf.read(members[facts_path]))
        except ValueError:
            facts = None
        if facts != manifest.get("facts"):
            why.append("its facts are not facts.json's")
    elif not facts_entries and manifest.get("facts") is not None:
        why.append("it has facts but the chain has no facts.json")
    if why:
        report.problems.insert(0, _manifest_line(why))
    for p in good_purges:
        n = purged_count.get(int(p["seq"]), 0)
        report.notes.append(f"purged: {', '.join(map(str, p['what']))} by {p.get('by')} (seal log entry {p['seq']}); "
                            f"{n} item(s) absent as purged")
    if isinstance(seal, dict):
        place = "its next entry links it" if manifest.get("next") else "no later entry yet"
        report.notes.append(f"sealed: {len(chain)} items, seal log entry {seal.get('seq')} ({place}), key {given}")


def _manifest_line(why: Sequence[str]) -> str:
    shown = "; ".join(why[:3]) + (f"; and {len(why) - 3} more" if len(why) > 3 else "")
    return f"changed: {MANIFEST} ({shown})"


def _still_alias(path: str, derived: str, e: dict[str, Any]) -> bool:
    """A still's member may be .png or .jpg when materials.json cannot say which (it is changed)."""
    return e.get("kind") == "still" and path in (derived[:-3] + "png", derived[:-3] + "jpg")


def _purges(purge: dict[str, Any], entry: dict[str, Any]) -> bool:
    what = purge.get("what") or []
    return entry.get("kind") in what or f"{entry.get('kind')}:{entry.get('ref')}" in what


def _seal_problems(seal: dict[str, Any], sid: Any, chain: list[dict[str, Any]], public: Ed25519PublicKey,
                   given: str) -> list[str]:
    out = []
    if set(seal) != SEAL_FIELDS or seal.get("kind") != "seal":
        out.append("the seal is malformed")
    if seal.get("sid") != sid:
        out.append(f"the seal is of session {seal.get('sid')}")
    if seal.get("count") != len(chain):
        out.append(f"the seal counts {seal.get('count')} items, the chain has {len(chain)}")
    if seal.get("head") != head_of(chain):
        out.append("the seal's head is not the chain's last entry")
    if seal.get("key") != given:
        out.append(f"the seal names key {str(seal.get('key'))[:16]}, not the key given ({given}): "
                   "another key sealed it, or it was altered")
    elif not signed_ok(seal, public):
        out.append("the seal's signature does not verify")
    return out


def _next_problems(nxt: Any, seal: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    """The seal's place: the seal log's next entry links it (when the package has one)."""
    if nxt is None:
        return []
    if not isinstance(nxt, dict):
        return ["next is not a seal log entry"]
    out = []
    if nxt.get("prev") != entry_hash(seal):
        out.append("the seal log's next entry does not link the seal")
    if nxt.get("seq") != _int(seal.get("seq")) + 1:
        out.append("the seal log's next entry is not the one after the seal")
    if not signed_ok(nxt, public):
        out.append("the seal log's next entry's signature does not verify")
    return out


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else -2


# --- the seal log -------------------------------------------------------------------------------


@dataclass
class LogReport:
    problems: list[str] = field(default_factory=list)
    entries: int = 0
    seals: int = 0
    purges: int = 0
    head: str = ""  # the hash of the last entry walked: keep it where the servers cannot write

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.ok:
            return ["OK", f"{self.entries} entries: {self.seals} seals, {self.purges} purges; head {self.head}"]
        return list(self.problems)


class LogWalker:
    """Feed the seal log's entries in order; ``finish`` with its stored head."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public
        self.key = key_id(public)
        self.report = LogReport()
        self.prev = GENESIS
        self.seal_of: dict[str, int] = {}

    def feed(self, raws: Iterable[str]) -> None:
        r = self.report
        for raw in raws:
            i = r.entries
            r.entries += 1
            try:
                e = json.loads(raw)
            except ValueError:
                r.problems.append(f"seal log entry {i}: not valid JSON")
                self.prev = hashlib.sha256(raw.encode()).hexdigest()
                continue
            what = f"seal log entry {i} ({e.get('kind')} of session {e.get('sid')})"
            if canonical(e).decode() != raw:
                r.problems.append(f"{what}: not in its canonical form")
            if e.get("seq") != i:
                r.problems.append(f"{what}: numbered {e.get('seq')!r} (an entry before it was removed or added)")
            if e.get("prev") != self.prev:
                r.problems.append(f"{what}: does not link entry {i - 1}")
            if e.get("key") != self.key:
                r.problems.append(f"{what}: signed with key {str(e.get('key'))[:16]}, not the key given ({self.key})")
            elif not signed_ok(e, self.public):
                r.problems.append(f"{what}: the signature does not verify")
            if e.get("kind") == "seal":
                r.seals += 1
                if e.get("sid") in self.seal_of:
                    r.problems.append(f"{what}: a second seal of the session (first: entry {self.seal_of[e['sid']]})")
                self.seal_of.setdefault(str(e.get("sid")), i)
            elif e.get("kind") == "purge":
                r.purges += 1
            else:
                r.problems.append(f"{what}: neither a seal nor a purge")
            self.prev = entry_hash(e)

    def finish(self, head_raw: str | None, index: dict[str, int] | None = None) -> LogReport:
        """Check the stored head (and the session -> seal index) against what was walked."""
        r = self.report
        count, head = parse_head(head_raw)
        r.head = f"{r.entries}:{self.prev}"
        if count != r.entries:
            r.problems.append(f"the seal log's head counts {count} entries, the log holds {r.entries} "
                              f"(entries were {'removed' if count > r.entries else 'added'} at its end)")
        elif head != self.prev:
            r.problems.append("the seal log's head is not its last entry's hash (its last entry was changed)")
        if index is not None:
            for sid, seq in sorted(index.items()):
                if self.seal_of.get(sid) != seq:
                    r.problems.append(f"session {sid}: the index names seal log entry {seq}, "
                                      f"its seal is {self.seal_of.get(sid, 'not in the log')}")
            for sid, seq in sorted(self.seal_of.items()):
                if sid not in index:
                    r.problems.append(f"session {sid}: sealed at seal log entry {seq} but missing from the index")
        return r
