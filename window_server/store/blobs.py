"""Content-addressed blob storage for stills: a small interface and its local-disk implementation.

A blob is named by the SHA-256 of its bytes, so the same still stored twice is one file, and a
file whose content does not match its name is visibly broken. ``FileBlobStore`` keeps blobs
under ``<root>/ab/cd/<sha256>`` and makes each write durable before ``put`` returns: temp file
in the same directory, fsync, rename, fsync the directory. An S3-compatible store can replace it
behind the same ``BlobStore`` protocol (``path`` then returns None).

A full disk (ENOSPC, or EDQUOT for a quota) raises ``StorageFull`` (507 ``storage_full``) after the
temp file is removed: the caller records nothing, so no record names a blob that is not there,
and no partial file is left under any name.

Every disk operation runs in a thread (``asyncio.to_thread``): hashing 15 MB or an fsync on a
busy disk must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from window_server.domain.errors import NotFound, StorageFull

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class BlobMissing(NotFound):
    """The blob is not in the store (purged, or never written)."""

    code = "blob_missing"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sha(sha: str) -> str:
    """Return ``sha`` if it is 64 lower-case hex digits (never a path); raise ValueError."""
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError("a blob name is 64 lower-case hex digits")
    return sha


class BlobStore(Protocol):
    """Where stills live. ``put`` returns only once the bytes are durable."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` (if not there yet); return its SHA-256 hex."""
        ...

    async def get(self, sha: str) -> bytes:
        """Return the blob's bytes; raise BlobMissing."""
        ...

    async def exists(self, sha: str) -> bool: ...

    async def delete(self, sha: str) -> bool:
        """Remove the blob; return whether it was there."""
        ...

    def path(self, sha: str) -> Path | None:
        """The blob's local file, or None for stores that have none (S3)."""
        ...


class FileBlobStore:
    """Blobs as files under ``root/ab/cd/<sha256>``, written atomically and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        check_sha(sha)
        return self.root / sha[:2] / sha[2:4] / sha

    async def put(self, data: bytes) -> str:
        try:
            return await asyncio.to_thread(self._put, data)
        except OSError as exc:
            if exc.errno in _FULL:
                log.error("blob store %s is full (%s): a write of %d bytes was refused", self.root,
                          errno.errorcode.get(exc.errno or 0, "?"), len(data))
                raise StorageFull("the server's storage is full: nothing was stored; "
                                  "try again later (an operator has been alerted in the log)") from None
            raise

    async def get(self, sha: str) -> bytes:
        return await asyncio.to_thread(self._get, sha)

    async def exists(self, sha: str) -> bool:
        return await asyncio.to_thread(self.path(sha).is_file)

    async def delete(self, sha: str) -> bool:
        return await asyncio.to_thread(self._delete, sha)

    def shas(self) -> Iterator[str]:
        """Every stored blob's name (a scan: for the retention purge, not for hot paths)."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or len(first.name) != 2:
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for f in second.iterdir():
                    if _SHA256.fullmatch(f.name):
                        yield f.name

    # --- in a worker thread ------------------------------------------------------------------

    def _put(self, data: bytes) -> str:
        sha = sha256_hex(data)
        final = self.path(sha)
        if final.is_file() and final.stat().st_size == len(data):
            return sha  # content-addressed: the same bytes are there already
        created = self._make_dirs(final.parent)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        # The rename is durable only once its directory is; new directories need their parent too.
        for d in (final.parent, *created):
            _fsync_dir(d)
        return sha

    def _make_dirs(self, d: Path) -> list[Path]:
        """Create ``d`` and missing parents; return the parents of the created ones, deepest first."""
        missing = []
        p = d
        while not p.exists():
            missing.append(p)
            p = p.parent
        d.mkdir(parents=True, exist_ok=True)
        return [m.parent for m in missing]

    def _get(self, sha: str) -> bytes:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob {sha[:12]}… is not stored") from None

    def _delete(self, sha: str) -> bool:
        p = self.path(sha)
        try:
            p.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(p.parent)
        return True


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
