"""Uploading stills over real HTTP: checked, stored by hash, recorded; every refusal keeps nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from window_server.appkeys import ACCOUNTS, QUEUE, STORE
from window_server.domain.auth import Role
from window_server.store.blobs import FileBlobStore

from .conftest import Env, Stills

MB = 1024 * 1024


def _assert_error(status: int, body: Any, want_status: int, code: str) -> None:
    assert status == want_status, body
    assert set(body) == {"error"} and body["error"]["code"] == code, body


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A few hundred bytes of PNG that declare width x height pixels of zeros (≈ 7.5 GB as RGB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 65536, 9)) \
        + chunk(b"IEND", b"")


async def test_a_good_8mp_still_is_checked_stored_and_recorded(env: Env, stills: Stills) -> None:
    status, body = await env.upload(stills.good_8mp, kind="application_form", camera="main")
    assert status == 201, body
    m = body["material"]
    assert set(m) >= {"id", "sid", "kind", "camera", "sha256", "size", "width", "height", "verdict", "reasons",
                      "sharpness", "glare", "brightness", "coverage", "corners", "by", "at", "request"}
    assert (m["sid"], m["kind"], m["camera"], m["by"], m["request"]) == (
        env.sid, "application_form", "main", f"booth:{env.booth}", None)
    assert (m["width"], m["height"], m["size"]) == (3264, 2448, len(stills.good_8mp))
    assert m["verdict"] == "accepted" and m["reasons"] == [] and len(m["corners"]) == 4
    assert m["sha256"] == hashlib.sha256(stills.good_8mp).hexdigest()

    # the three variants are on disk under ab/cd/<sha256>, and each file's name is its content's hash
    blobs = FileBlobStore(env.materials_dir)
    for sha in (m["sha256"], m["corrected_sha256"], m["thumb_sha256"]):
        path = blobs.path(sha)
        assert path.parent == env.materials_dir / sha[:2] / sha[2:4]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert blobs.path(m["sha256"]).read_bytes() == stills.good_8mp
    assert [p for p in env.materials_dir.rglob(".tmp-*")] == []  # no temp file left behind

    # metadata in Redis and in the session's event log
    assert (await env.records())[m["id"]]["sha256"] == m["sha256"]
    [ev] = await env.events("material_added")
    assert (ev["material"], ev["sha256"], ev["kind"], ev["verdict"], ev["by"]) == (
        m["id"], m["sha256"], "application_form", "accepted", f"booth:{env.booth}")
    assert (ev["corrected"], ev["thumb"], ev["width"], ev["height"]) == (
        m["corrected_sha256"], m["thumb_sha256"], "3264", "2448")


async def test_the_specialist_may_upload_a_file_and_a_bad_still_says_why(env: Env, stills: Stills) -> None:
    status, body = await env.upload(stills.cut_off, kind="other", camera="upload",
                                    headers=env.cookie(env.agent_cookie))
    assert status == 201, body
    m = body["material"]
    assert m["by"] == env.agent and m["kind"] == "other" and m["camera"] == "upload"
    assert m["verdict"] == "rejected" and "cut_off" in m["reasons"]


async def test_refusals_before_the_body_is_read(env: Env, stills: Stills) -> None:
    # not a member: another specialist, another booth
    other = await env.staff("spec-other", Role.SPECIALIST, env.demo["home_centre"])
    _assert_error(*await env.upload(stills.good, headers=env.cookie(other)), 403, "not_member")
    _record, other_token = await env.app[ACCOUNTS].add_booth("bth-mat-2", env.demo["intake_centre"])
    _assert_error(*await env.upload(stills.good, headers=env.booth_headers("bth-mat-2", other_token)), 403,
                  "not_member")
    # a manager may read but not add
    mgr = await env.staff("mgr-mat", Role.MANAGER, env.demo["intake_centre"])
    _assert_error(*await env.upload(stills.good, headers=env.cookie(mgr)), 403, "not_member")
    # no credentials, a wrong token
    _assert_error(*await env.upload(stills.good, headers={}), 401, "unauthenticated")
    _assert_error(*await env.upload(stills.good, headers=env.booth_headers(token="nope")), 401, "invalid_token")
    # unknown kind, camera, session, capture request
    _assert_error(*await env.upload(stills.good, kind="passport_of_mars"), 400, "invalid_input")
    _assert_error(*await env.upload(stills.good, camera="phone"), 400, "invalid_input")
    # a session that does not exist is answered like one that is not yours: numbers cannot be probed
    _assert_error(*await env.upload(stills.good, sid="RW20990101000001"), 403, "not_member")
    _assert_error(*await env.upload(stills.good, request="c0123456789abcdef"), 404, "unknown_request")
    await env.nothing_stored()


async def test_a_session_not_held_takes_no_materials(env: Env, stills: Stills) -> None:
    res = await env.app[QUEUE].complete(env.agent, env.sid, "consultation")
    assert res.ok["state"] == "completed"
    _assert_error(*await env.upload(stills.good), 409, "illegal_transition")
    # a waiting session (no specialist yet) refuses its own booth too
    q = env.app[QUEUE]
    ticket = await q.request_service(booth="bth-mat-3", intake_centre=env.demo["intake_centre"],
                                     matter=env.demo["matter"], consent=True)
    _record, token = await env.app[ACCOUNTS].add_booth("bth-mat-3", env.demo["intake_centre"])
    status, body = await env.upload(stills.good, sid=ticket.ok["sid"], headers=env.booth_headers("bth-mat-3", token))
    _assert_error(status, body, 409, "illegal_transition")
    await env.nothing_stored()
    assert await env.app[STORE].session_events(ticket.ok["sid"])  # the session is real; it just is not held


async def test_bad_bodies_are_clear_4xx_and_keep_nothing(env: Env, stills: Stills) -> None:
    _assert_error(*await env.upload(b"GIF89a" + b"\0" * 5000), 415, "unsupported_media_type")
    _assert_error(*await env.upload(b""), 415, "unsupported_media_type")
    _assert_error(*await env.upload(stills.good, content_type="multipart/form-data; boundary=x"), 415,
                  "unsupported_media_type")
    _assert_error(*await env.upload(png_bomb(), content_type="image/png"), 413, "image_too_large")
    _assert_error(*await env.upload(stills.good[: len(stills.good) // 2]), 400, "corrupt_image")
    _assert_error(*await env.upload(stills.good[:1000]), 400, "corrupt_image")  # cut inside the header
    await env.nothing_stored()


async def test_an_oversized_upload_is_refused_by_its_length(make_env: Any, stills: Stills) -> None:
    env = await make_env(max_upload_bytes=len(stills.good) - 1)
    _assert_error(*await env.upload(stills.good), 413, "too_large")
    await env.nothing_stored()


async def test_a_100_mb_stream_is_cut_off_at_the_cap_without_buffering(env: Env) -> None:
    chunk = b"\xff\xd8\xff\xe0" + b"\0" * (MB - 4)

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse it by
        yield chunk
        for _ in range(99):
            yield b"\0" * MB

    tracemalloc.start()
    try:
        status, resp = await env.upload(body())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_error(status, resp, 413, "too_large")
    # at most the 15 MiB cap is held (and one copy of the last chunk), never the 100 MB body
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB"
    await env.nothing_stored()


async def test_a_still_whose_worker_takes_too_long_is_503(make_env: Any, stills: Stills) -> None:
    env = await make_env(document_timeout_seconds=0.001)
    _assert_error(*await env.upload(stills.good), 503, "unavailable")
    assert await env.records() == {}


def test_blob_paths_cannot_leave_the_store(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63, ""):
        with pytest.raises(ValueError):
            blobs.path(bad)


async def test_uploads_never_block_the_event_loop(make_env: Any, stills: Stills,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env = await make_env(uploads_per_session=3, uploads_per_booth=3)  # three at once, by design
    # The slow parts of an upload are decoding the still, hashing it and fsyncing it. Decoding
    # belongs to the worker processes, hashing and disk work to threads: none of them may run
    # on the event loop's own thread. (bench/documents_bench.py measures the loop lag.)
    calls: list[tuple[str, bool]] = []

    def watched(name: str, fn: Any, counts: Any = lambda *a: True) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if counts(*args):
                try:
                    asyncio.get_running_loop()
                    calls.append((name, True))
                except RuntimeError:  # no loop runs in this thread
                    calls.append((name, False))
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(cv2, "imdecode", watched("imdecode", cv2.imdecode))
    monkeypatch.setattr(hashlib, "sha256", watched("sha256", hashlib.sha256, lambda data=b"": len(data) > 64 * 1024))
    monkeypatch.setattr(os, "fsync", watched("fsync", os.fsync))
    results = await asyncio.gather(*(env.upload(stills.good_8mp) for _ in range(3)))
    assert [status for status, _ in results] == [201, 201, 201]
    assert [name for name, on_loop in calls if on_loop] == []
    assert {name for name, _ in calls} == {"sha256", "fsync"}  # seen, in threads; decoding: in the workers
