"""Backup and restore (docs/operations.md): a cluster's Redis and shared data directory, restored into
a fresh cluster, give back the same sealed evidence, and it verifies against the original seal key.

The session is played through nginx with TLS on the public protocol (the simulator's wire client):
a booth asks for service, the specialist accepts, the booth uploads a still, the specialist
completes, the citizen rates; with ``RW_SEAL_GRACE_SECONDS=0`` it is sealed at once.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from window_server.accounts.store import DEMO_PASSWORD, demo_booth_token
from window_server.cluster import Cluster
from window_server.cluster.backup import BackupError, check
from window_server.evidence.keys import read_public_key
from window_server.evidence.verify import verify_package
from window_server.simulate.wire import Link, new_http, sio_connect, ws_url

CLUSTER_ENV = {"RW_SEAL_GRACE_SECONDS": "0"}  # read by tests/cluster/conftest.py's `cluster`
CLUSTER_NODES = 1

MATTER = "js-320600-housing-fund-transfer"  # served by js-nantong
SPECIALIST = "spec-js-nantong"
BOOTH = "sh-yangpu-01"


def a_still() -> bytes:
    """A white page with dark lines on a grey desk, as the 高拍仪 would see it."""
    img = np.full((900, 1200, 3), 90, np.uint8)
    cv2.rectangle(img, (200, 100), (1000, 820), (250, 250, 250), -1)
    for y in range(160, 780, 40):
        cv2.line(img, (260, y), (940, y), (30, 30, 30), 3)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


class Client:
    """The calls this test makes to one cluster's public address."""

    def __init__(self, base: str, ca_file: Path) -> None:
        self.base = base
        self.http = new_http(ca_file)
        self.ca_file = ca_file
        self.pushes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def json(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, **kw) as resp:
            body = await resp.read()
            return resp.status, (json.loads(body) if resp.content_type == "application/json" else body)

    async def login(self, username: str) -> str:
        async with self.http.post(self.base + "/api/login",
                                  json={"username": username, "password": DEMO_PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            return resp.cookies["rw_session"].value

    async def open(self, namespace: str, token: str) -> Link:
        from window_server.simulate.wire import ssl_context

        return await sio_connect(self.http, ws_url(self.base), namespace, token, ssl_ctx=ssl_context(self.ca_file),
                                 on_event=lambda e, d: self.pushes.put_nowait((e, d)))

    async def push(self, event: str, match: Any = lambda d: True) -> Any:
        async with asyncio.timeout(30.0):
            while True:
                e, d = await self.pushes.get()
                if e == event and match(d):
                    return d


async def ok(link: Link, event: str, data: dict[str, Any]) -> dict[str, Any]:
    _, reply = await link.ask(event, data, 15.0)
    assert isinstance(reply, dict) and "ok" in reply, f"{event}: {reply}"
    result: dict[str, Any] = reply["ok"]
    return result


async def play_session(c: Client) -> tuple[str, str, bytes]:
    """A whole session through nginx; returns (sid, the specialist's cookie, the still's bytes)."""
    cookie = await c.login(SPECIALIST)
    status, tok = await c.json("POST", "/api/connect-token", json={"namespace": "/agent"},
                               headers={"Cookie": f"rw_session={cookie}"})
    assert status == 200, tok
    agent = await c.open("/agent", tok["token"])
    await ok(agent, "presence", {"status": "available"})
    bearer = {"Authorization": f"Bearer {demo_booth_token(BOOTH)}"}
    status, btok = await c.json("POST", f"/api/booths/{BOOTH}/connect-token", json={"role": "booth"}, headers=bearer)
    assert status == 200, btok
    booth = await c.open("/booth", btok["token"])
    try:
        sid = str((await ok(booth, "request_service", {"matter": MATTER, "priority": "", "consent": True,
                                                       "lang": "zh", "source": "walk_in"}))["sid"])
        await c.push("offer", lambda d: d.get("sid") == sid)
        await ok(agent, "accept", {"sid": sid})
        still = a_still()
        status, material = await c.json(
            "POST", f"/api/sessions/{sid}/materials?kind=other&camera=main", data=still,
            headers={**bearer, "X-Booth": BOOTH, "Content-Type": "image/jpeg"})
        assert status == 201, material
        await ok(agent, "complete", {"sid": sid, "outcome": "consultation"})
        await ok(booth, "rate", {"sid": sid, "level": 5, "comment": ""})
        return sid, cookie, still
    finally:
        await booth.close()
        await agent.close()


async def sealed_package(c: Client, sid: str, cookie: str, within_s: float = 60.0) -> bytes:
    """The session's evidence package, once it is sealed (the grace is 0: at the sealer's next run)."""
    deadline = time.monotonic() + within_s
    while True:
        status, body = await c.json("GET", f"/api/sessions/{sid}/evidence", headers={"Cookie": f"rw_session={cookie}"})
        if status == 200:
            assert isinstance(body, bytes)
            return body
        assert status == 409 and body["error"]["code"] == "evidence_unsealed", (status, body)
        assert time.monotonic() < deadline, "the session was not sealed"
        await asyncio.sleep(0.2)  # polling a condition with a deadline, not waiting on time


async def test_a_backup_restored_into_a_fresh_cluster_gives_back_the_sealed_evidence(
        cluster: Cluster, tmp_path: Path) -> None:
    c = Client(cluster.https_url, cluster.ca_file)
    try:
        sid, cookie, still = await play_session(c)
        before = await sealed_package(c, sid, cookie)
    finally:
        await c.http.close()
    public = read_public_key(cluster.evidence_key)
    (tmp_path / "before.zip").write_bytes(before)
    assert verify_package(tmp_path / "before.zip", public).ok

    backup_dir = tmp_path / "backup"
    manifest = cluster.backup(backup_dir)
    assert check(backup_dir) == manifest
    assert any(rel.startswith("materials/") for rel in manifest["files"]), "the stills were not copied"
    with pytest.raises(BackupError):  # a backup never goes over another one
        cluster.backup(backup_dir)

    # A fresh cluster: the operator puts the seal key back (RW_EVIDENCE_KEY) and restores.
    fresh = Cluster(tmp_path / "fresh", nodes=1, die_with_parent=True)
    fresh.evidence_key.parent.mkdir(parents=True)
    shutil.copyfile(cluster.evidence_key, fresh.evidence_key)
    try:
        fresh.up(restore_from=backup_dir)
        c2 = Client(fresh.https_url, fresh.ca_file)
        try:
            cookie2 = await c2.login(SPECIALIST)
            after = await sealed_package(c2, sid, cookie2, within_s=10.0)
            status, materials = await c2.json("GET", f"/api/sessions/{sid}/materials",
                                              headers={"Cookie": f"rw_session={cookie2}"})
            assert status == 200, materials
        finally:
            await c2.http.close()
        (tmp_path / "after.zip").write_bytes(after)
        report = verify_package(tmp_path / "after.zip", public)
        assert report.ok, report.lines()
        assert len(materials["materials"]) == 1
        with pytest.raises(BackupError):  # a cluster that holds data is never overwritten
            fresh.up(restore_from=backup_dir)
    finally:
        fresh.down()
    assert not any(row["alive"] for row in fresh.status().values())


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    (tmp_path / "redis.rdb").write_bytes(b"REDIS0010")
    (tmp_path / "backup.json").write_text(json.dumps({"snapshot": {"sha256": "0" * 64}, "files": {}}))
    with pytest.raises(BackupError, match="damaged"):
        check(tmp_path)
