"""A full blob disk: the uploader gets 507 ``storage_full`` and nothing is half-written.

The disk is really full: a small tmpfs is mounted over the blob directory (we run as root in
CI's container), filled by real uploads until the kernel answers ENOSPC. Afterwards no temp file
is left, every record in Redis names a blob that is on disk whole, and the refused upload left no
record at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.materials.conftest import Env, Stills, env, make_env, stills  # noqa: F401  (fixtures)
from tests.recording.conftest import chunks  # noqa: F401  (fixture)
from tests.signaling.conftest import catalogue, clients, demo  # noqa: F401  (fixtures)
from window_server.appkeys import SETTINGS

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="mounting a tmpfs needs root")


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (created), unmounted (lazily if busy) on exit."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path, leave: int) -> None:
    """Fill the filesystem at ``where`` until at most ``leave`` bytes are free."""
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    if free > leave:
        (where / "filler").write_bytes(b"\0" * (free - leave))


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "filler")


def whole(root: Path, sha: str) -> bool:
    p = root / sha[:2] / sha[2:4] / sha
    return p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == sha


async def test_a_still_upload_on_a_full_disk_is_507_storage_full_and_nothing_is_half_written(
        env: Env, stills: Stills) -> None:  # noqa: F811
    with tmpfs(env.materials_dir, "1m") as root:
        fill(root, leave=len(stills.good) // 2)  # room for less than the still itself
        status, body = await env.upload(stills.good)
        assert status == 507, body
        assert body["error"]["code"] == "storage_full" and body["error"]["message"]
        assert [p for p in files(root) if p.name.startswith(".tmp-")] == []  # no partial file
        assert all(whole(root, p.name) for p in files(root))  # what is there is whole (a small variant)
        await _no_dangling_records(env, root)
        assert await env.records() == {}  # the refused still is not recorded
        assert await env.events("material_added") == []

        (root / "filler").unlink()  # room again: the same still is taken
        status, body = await env.upload(stills.good)
        assert status == 201, body
        await _no_dangling_records(env, root)
        assert len(await env.records()) == 1


async def test_a_recording_chunk_on_a_full_disk_is_507_storage_full_and_not_recorded(
        env: Env, chunks: list[bytes]) -> None:  # noqa: F811
    root = Path(env.app[SETTINGS].data_dir) / "recordings"
    with tmpfs(root, "1m"):
        async with env.srv.http.post(f"{env.url}/api/sessions/{env.sid}/recording/segments",
                                     json={"mime": "video/webm", "width": 320, "height": 180},
                                     headers=env.booth_headers()) as resp:
            assert resp.status == 201, await resp.text()
        assert await _chunk(env, 0, chunks[0]) == (201, None)
        fill(root, leave=len(chunks[1]) // 2)
        assert await _chunk(env, 1, chunks[1]) == (507, "storage_full")
        assert [p for p in files(root) if p.name.startswith(".tmp-")] == []
        assert [p.name for p in files(root)] == [hashlib.sha256(chunks[0]).hexdigest()]
        async with env.srv.http.get(f"{env.url}/api/sessions/{env.sid}/recording",
                                    headers=env.cookie(env.agent_cookie)) as resp:
            view = await resp.json()
        assert view["recording"]["state"] == "failed"
        assert [s["chunks"] for s in view["recording"]["segments"]] == [1]  # the refused chunk is not recorded


async def _chunk(e: Env, seq: int, data: bytes) -> tuple[int, Any]:
    url = f"{e.url}/api/sessions/{e.sid}/recording/segments/0/chunks/{seq}"
    h = {"Content-Type": "video/webm", **e.booth_headers()}
    async with e.srv.http.put(url, params={"t": str((seq + 1) * 1000)}, data=data, headers=h) as resp:
        body = await resp.json()
        return resp.status, body["error"]["code"] if resp.status >= 400 else None


async def _no_dangling_records(e: Env, root: Path) -> None:
    """Every sha a material record names is on disk, whole."""
    for record in (await e.records()).values():
        for field in ("sha256", "corrected_sha256", "thumb_sha256"):
            if sha := record.get(field):
                assert whole(root, sha), (field, json.dumps(record)[:200])
