"""Backup and restore of what a cluster keeps: Redis (an RDB snapshot) and the shared data directory.

Order matters. The snapshot is taken first (``redis-cli --rdb`` from the replica, so the primary
does not fork for it), the data directory is copied second. Stills and recording chunks are
written and fsynced before Redis records them, so every file a record in the snapshot names
was on disk before the snapshot, and is in the copy; files newer than the snapshot are merely
unreferenced (``purge-materials`` clears those after a day).

A restore seeds a fresh cluster before its first start: the snapshot becomes the base of
redis1's append-only file (``appendonlydir/`` with a one-line manifest, which Redis 7 loads;
a plain ``dump.rdb`` would be ignored with ``appendonly yes``) and the data directory is copied
in. The replica then syncs from redis1 as usual.

``backup.json`` lists the snapshot's SHA-256 and every copied file's size, so a damaged or
partial backup is refused instead of restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

MANIFEST = "backup.json"
SNAPSHOT = "redis.rdb"
DATA = "data"
#: the playback cache is rebuilt on demand: not worth a backup
_SKIP = ("recordings/play",)


class BackupError(RuntimeError):
    """A backup could not be made, or a directory is not a whole backup."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> dict[str, int]:
    """Every regular file under ``root`` (relative path -> size), the playback cache left out."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if (rel_dir / d).as_posix() not in _SKIP]
        for name in filenames:
            if name.endswith(".tmp") or name.startswith(".tmp"):
                continue  # a write in flight: not yet acknowledged, not yet named by Redis
            path = Path(dirpath) / name
            out[(rel_dir / name).as_posix()] = path.stat().st_size
    return out


def snapshot(host: str, port: int, out: Path, *, password: str = "", timeout: float = 120.0) -> None:
    """Write an RDB snapshot of the Redis at ``host:port`` to ``out`` (``redis-cli --rdb``)."""
    cmd = ["redis-cli", "-h", host, "-p", str(port), "--no-auth-warning"]
    env = dict(os.environ)
    if password:
        env["REDISCLI_AUTH"] = password  # never on the command line
    tmp = out.with_suffix(".part")
    result = subprocess.run([*cmd, "--rdb", str(tmp)], capture_output=True, text=True, timeout=timeout,
                            env=env, check=False)
    if result.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"redis-cli --rdb from {host}:{port} failed: {(result.stderr or result.stdout).strip()}")
    os.replace(tmp, out)


def backup(redis_host: str, redis_port: int, data_dir: Path, out: Path, *, password: str = "") -> dict[str, Any]:
    """Back up one Redis and the data directory into the new directory ``out``; return the manifest."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: a backup goes into a new directory")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    snapshot(redis_host, redis_port, out / SNAPSHOT, password=password)
    files = _files(data_dir) if data_dir.exists() else {}
    for rel in files:
        dest = out / DATA / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(data_dir / rel, dest)
    manifest = {
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "redis": f"{redis_host}:{redis_port}",
        "snapshot": {"file": SNAPSHOT, "sha256": _sha256(out / SNAPSHOT), "bytes": (out / SNAPSHOT).stat().st_size},
        "files": {rel: (out / DATA / rel).stat().st_size for rel in files},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def check(backup_dir: Path) -> dict[str, Any]:
    """The manifest of a whole, undamaged backup; :class:`BackupError` says what is wrong otherwise."""
    try:
        manifest: dict[str, Any] = json.loads((backup_dir / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup_dir} has no readable {MANIFEST}") from exc
    snap = backup_dir / SNAPSHOT
    if not snap.exists() or _sha256(snap) != manifest["snapshot"]["sha256"]:
        raise BackupError(f"{snap} is missing or damaged")
    for rel, size in manifest["files"].items():
        path = backup_dir / DATA / rel
        if not path.exists() or path.stat().st_size != size:
            raise BackupError(f"{path} is missing or damaged")
    return manifest


def seed(backup_dir: Path, server_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Restore ``backup_dir`` into a Redis directory and a data directory that were never started."""
    manifest = check(backup_dir)
    aof = server_dir / "appendonlydir"
    if aof.exists() or (server_dir / "dump.rdb").exists():
        raise BackupError(f"{server_dir} already holds data: restore only into a fresh cluster")
    aof.mkdir(parents=True, mode=0o700)
    base = "appendonly.aof.1.base.rdb"
    shutil.copyfile(backup_dir / SNAPSHOT, aof / base)
    (aof / "appendonly.aof.manifest").write_text(f"file {base} seq 1 type b\n")
    for rel in manifest["files"]:
        dest = data_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(backup_dir / DATA / rel, dest)
    return manifest
