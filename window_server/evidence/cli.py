"""Command line: ``python -m window_server evidence …``.

    evidence export SID OUT.zip          the sealed evidence package of a session
    evidence verify OUT.zip [--public-key PEM]
                                         check a package offline: prints OK or what was changed,
                                         is missing or was added (one line each)
    evidence verify-log [--public-key PEM] [--chains]
                                         walk the whole seal log: links, numbering, signatures,
                                         its head and the session index (--chains: and each sealed
                                         session's chain in Redis against its seal)
    evidence public-key                  print the seal key's public half (PEM)
    evidence seal SID                    seal an ended session now (it is sealed by itself
                                         RW_SEAL_GRACE_SECONDS after it ends)
    evidence new-key FILE                write a new Ed25519 seal key (for RW_EVIDENCE_KEY)

Which Redis: as for ``users``/``booths``. The public key for ``verify``: ``--public-key``, else
the one of ``RW_EVIDENCE_KEY`` (or the demo key under ``RW_DATA_DIR``). Exit status: 0 OK,
1 not OK (verification failed, not sealed, Redis unreachable), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from redis.asyncio import Redis
from redis.exceptions import RedisError

from window_server.cli import running_embedded_redis
from window_server.domain.errors import RemoteWindowError
from window_server.evidence.chain import chain_problems, head_of
from window_server.evidence.keys import (
    EvidenceKeyError,
    key_id,
    load_seal_key,
    read_public_key,
    trusted_public_key,
    write_new_key,
)
from window_server.evidence.package import Blobs, export
from window_server.evidence.seal_store import SealStore
from window_server.evidence.sealer import Finalize, MaterialsReader, Sealer, ThreadPdf
from window_server.evidence.verify import LogReport, LogWalker, verify_package
from window_server.queue.store import QueueStore, QueueTiming
from window_server.runtime.redis_server import EmbeddedRedis, RedisServerError
from window_server.settings import Settings, SettingsError, build_settings
from window_server.store.client import make_redis

PROG = "python -m window_server evidence"
PAGE = 1000

#: What ``evidence seal`` needs from features this package may not import (they import it):
#: given the Redis client, the settings and the queue store, the materials reader and the
#: recording's ``finalize``. ``window_server/__main__.py`` supplies it.
Sources = Callable[[Redis, Settings, QueueStore], tuple[MaterialsReader, Finalize]]


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(f"{message} (see {self.prog} --help)")


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Sealed evidence: export, verify, the seal log.")
    parser.add_argument("--redis-url", default=None, metavar="REDIS_URL")
    parser.add_argument("--data-dir", default=None, metavar="RW_DATA_DIR")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("export", help="write the sealed evidence package of a session")
    p.add_argument("sid")
    p.add_argument("out", type=Path)
    p = sub.add_parser("verify", help="verify a package offline")
    p.add_argument("package", type=Path)
    p.add_argument("--public-key", type=Path, default=None, metavar="PEM")
    p = sub.add_parser("verify-log", help="walk the whole seal log")
    p.add_argument("--public-key", type=Path, default=None, metavar="PEM")
    p.add_argument("--chains", action="store_true", help="also check each sealed session's chain in Redis")
    sub.add_parser("public-key", help="print the seal key's public half (PEM)")
    p = sub.add_parser("seal", help="seal an ended session now")
    p.add_argument("sid")
    p = sub.add_parser("new-key", help="write a new Ed25519 seal key to FILE (0600)")
    p.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str], sources: Sources | None = None) -> int:
    """Run ``evidence``; return the exit status."""
    try:
        ns = build_parser().parse_args(list(argv))
    except _Usage as exc:
        _err(f"evidence: error: {exc}")
        return 2
    embedded: EmbeddedRedis | None = None
    try:
        settings = build_settings(os.environ, {"redis_url": ns.redis_url, "data_dir": ns.data_dir})
        if ns.command == "new-key":
            path = write_new_key(ns.file)
            _out(f"wrote {path} (key {key_id(read_public_key(path))}); set RW_EVIDENCE_KEY={path}")
            return 0
        if ns.command == "public-key":
            key = load_seal_key(settings)
            sys.stdout.write(key.public_pem.decode())
            _err(f"key id {key.id}")
            return 0
        if ns.command == "verify":
            report = verify_package(ns.package, _public_key(ns.public_key, settings))
            for line in report.lines():
                _out(line)
            return 0 if report.ok else 1
        url = settings.redis_url or running_embedded_redis(settings.redis_dir)
        if not url:
            embedded = EmbeddedRedis(settings.redis_dir)
            url = embedded.start()
        return asyncio.run(_with_redis(ns, settings, url, sources))
    except FileExistsError as exc:
        _err(f"evidence: error: {exc.filename} exists already; a key is never overwritten")
        return 1
    except SettingsError as exc:  # EvidenceKeyError too
        _err(f"evidence: error: {exc}")
        return 2
    except (RedisError, RedisServerError) as exc:
        _err(f"evidence: error: cannot reach Redis ({exc}); check REDIS_URL")
        return 1
    except OSError as exc:
        _err(f"evidence: error: {exc}")
        return 1
    finally:
        if embedded is not None:
            embedded.stop()


def _public_key(given: Path | None, settings: Settings) -> Ed25519PublicKey:
    if given is not None:
        return read_public_key(given)
    public = trusted_public_key(settings)
    if public is None:
        raise EvidenceKeyError("no public key: give --public-key PEM (from `evidence public-key` or "
                               "GET /api/evidence/public-key), or set RW_EVIDENCE_KEY")
    return public


async def _with_redis(ns: argparse.Namespace, settings: Settings, url: str, sources: Sources | None) -> int:
    redis = make_redis(url, timeout=10)
    try:
        seals = SealStore(redis)
        if ns.command == "export":
            try:
                done = await export(seals, Blobs.under(settings.data_dir), ns.sid, ns.out)
            except RemoteWindowError as exc:
                _err(f"evidence: {exc}")
                return 1
            _out(f"wrote {done.path}: {done.items} items" + (f", {done.absent} absent" if done.absent else "")
                 + f", seal log entry {done.seal_seq}")
            return 0
        if ns.command == "verify-log":
            report = await walk_log(seals, _public_key(ns.public_key, settings), chains=ns.chains)
            for line in report.lines():
                _out(line)
            return 0 if report.ok else 1
        if ns.command == "seal":
            return await _seal(redis, seals, settings, ns.sid, sources)
        raise AssertionError(ns.command)
    finally:
        await redis.aclose()


async def _seal(redis: Redis, seals: SealStore, settings: Settings, sid: str, sources: Sources | None) -> int:
    if sources is None:
        _err("evidence: error: sealing needs the recording service (run it as python -m window_server evidence)")
        return 1
    sessions = QueueStore(redis, QueueTiming(), time.time, tz=settings.timezone)
    materials, finalize = sources(redis, settings, sessions)
    sealer = Sealer(seals=seals, sessions=sessions, materials=materials, pdf=ThreadPdf(), finalize=finalize,
                    key=load_seal_key(settings), data_dir=Path(settings.data_dir), tz=settings.timezone)
    try:
        result = await sealer.seal(sid)
    except RemoteWindowError as exc:
        _err(f"evidence: {exc}")
        return 1
    await seals.done(sid)
    _out(f"session {sid} {'sealed' if result.new else 'was sealed already'}: seal log entry {result.seq}")
    return 0


async def walk_log(seals: SealStore, public: Ed25519PublicKey, *, chains: bool = False) -> LogReport:
    """Verify the whole seal log in Redis (pages of ``PAGE`` entries)."""
    index = await seals.sealed_sids()  # read before the head: every seal it names is under the head
    head = await seals.log_head()
    count = int(head.partition(":")[0]) if head else 0
    walker = LogWalker(public)
    seal_entries: list[dict[str, Any]] = []
    for start in range(0, count, PAGE):
        page = await seals.entries(start, min(start + PAGE, count) - 1)
        walker.feed(page)
        if chains:
            seal_entries.extend(e for raw in page if (e := _loads(raw)) and e.get("kind") == "seal")
        if len(page) < min(PAGE, count - start):
            break  # the log is shorter than its head says: finish() names it
    report = walker.finish(head, index)
    for seal in seal_entries:
        got = [json.loads(raw) for raw in await seals.chain_entries(str(seal["sid"]), int(seal["count"]))]
        if len(got) != seal["count"] or chain_problems(got) or head_of(got) != seal.get("head"):
            report.problems.append(f"session {seal['sid']}: its chain in Redis is not the one sealed "
                                   f"(seal log entry {seal.get('seq')})")
    return report


def _loads(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

