"""The Redis side of materials: one FCALL per change (``rw_material_*`` in ``queue/lua/materials.lua``), and reads.

A material's record is a JSON object in the session's ``materials`` hash, written once; the
specialist's current verdict on it is in ``material_verdicts``; capture requests are in
``captures``. Every change and every view is also an event in the session's stream.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

from redis.asyncio import Redis

from window_server.domain.recognition import PENDING
from window_server.queue.store import QueueStore, Result
from window_server.store.keys import key


def new_material_id() -> str:
    """A material id: ``m`` and 16 hex digits (``domain.materials.MATERIAL_ID``)."""
    return "m" + secrets.token_hex(8)


def new_request_id() -> str:
    """A capture request id: ``c`` and 16 hex digits (``domain.materials.REQUEST_ID``)."""
    return "c" + secrets.token_hex(8)


class MaterialStore:
    """Material records, verdicts, capture requests and views, through the queue's Lua library."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.redis: Redis = store.redis

    def now_ms(self) -> int:
        return self.store.now_ms()

    # --- changes (each one atomic call) -------------------------------------------------------

    async def add(
        self,
        sid: str,
        record: dict[str, Any],
        *,
        role: str,
        subject: str,
        by: str,
        event: dict[str, str],
        now: int,
    ) -> Result:
        """Store a material's record and its event; the uploader must be the booth or the holder."""
        return await self.store.call(
            "rw_material_add", now=now, sid=sid, id=record["id"], role=role, subject=subject, by=by,
            request=record.get("request") or "", record=json.dumps(record, ensure_ascii=False),
            event=event, pending="class" in record and record["class"] is None,
        )

    async def recognised(
        self,
        sid: str,
        record: dict[str, Any],
        *,
        private: dict[str, Any] | None,
        pending: list[str],
        event: dict[str, str],
        now: int,
    ) -> Result:
        """Land a still's recognition (only while its class is null); ``ok.retry`` when one of the
        ``pending`` stills was recognised meanwhile, ``ok.done`` false when there was nothing to do."""
        return await self.store.call(
            "rw_material_recognised", now=now, sid=sid, id=record["id"],
            record=json.dumps(record, ensure_ascii=False),
            private=json.dumps(private, ensure_ascii=False) if private else "", pending=pending, event=event,
        )

    async def verdict(
        self,
        sid: str,
        aid: str,
        material_id: str,
        verdict: str,
        reason: str,
        *,
        seen_verdict: str = "",
        override_reason: str = "",
    ) -> Result:
        """Record the specialist's verdict (replacing an earlier one; each is an event); refused when
        the still changed since ``seen_verdict`` or an override lacks its reason."""
        return await self.store.call(
            "rw_material_verdict", sid=sid, aid=aid, material_id=material_id, verdict=verdict, reason=reason,
            seen_verdict=seen_verdict, override_reason=override_reason, pending_verdict=PENDING,
        )

    async def viewed(
        self, sid: str, material_ids: list[str], variant: str, *, by: str, role: str, masked: bool = False
    ) -> Result:
        """Record that ``by`` was shown ``variant`` of the materials (before it is sent), masked or not."""
        return await self.store.call(
            "rw_material_view", sid=sid, materials=material_ids, variant=variant, by=by, role=role, masked=masked
        )

    async def capture(self, sid: str, aid: str, request_id: str, kind: str, camera: str) -> Result:
        """Record a capture request; fails with peer_absent when the device agent is offline."""
        return await self.store.call(
            "rw_capture_request", sid=sid, aid=aid, request_id=request_id, kind=kind, camera=camera
        )

    async def purge(self, sid: str, *, by: str = "system", why: str = "") -> Result:
        """Forget a closed session's material records (retention); the events stay."""
        return await self.store.call("rw_materials_purge", sid=sid, by=by, why=why)

    # --- reading ---------------------------------------------------------------------------------

    async def get(self, sid: str, material_id: str) -> dict[str, Any] | None:
        """One material with its current verdict (``review``), or None."""
        async with self.redis.pipeline(transaction=False) as p:
            p.hget(key("materials", sid=sid), material_id)
            p.hget(key("material_verdicts", sid=sid), material_id)
            p.hget(key("material_depts", sid=sid), material_id)
            raw, review, dept = await p.execute()
        if raw is None:
            return None
        return _with_review(json.loads(raw), review, dept)

    async def list(self, sid: str) -> list[dict[str, Any]]:
        """Every material of the session with its current verdict, oldest first."""
        async with self.redis.pipeline(transaction=False) as p:
            p.hgetall(key("materials", sid=sid))
            p.hgetall(key("material_verdicts", sid=sid))
            p.hgetall(key("material_depts", sid=sid))
            records, reviews, depts = await p.execute()
        out = [_with_review(json.loads(raw), reviews.get(mid), depts.get(mid)) for mid, raw in records.items()]
        out.sort(key=lambda m: (m.get("at", 0), m["id"]))
        return out

    async def records(self, sid: str) -> dict[str, str]:
        """The session's material records as stored: id -> JSON (no verdicts)."""
        return cast(dict[str, str], await self.redis.hgetall(key("materials", sid=sid)))

    async def count(self, sid: str) -> int:
        """How many material records the session holds."""
        return int(await self.redis.hlen(key("materials", sid=sid)))

    async def private(self, sid: str) -> dict[str, dict[str, Any]]:
        """What was read off the session's ID cards, by material id (never listed or sent but
        to the specialist holding the session, one material at a time)."""
        raw = cast(dict[str, str], await self.redis.hgetall(key("material_private", sid=sid)))
        return {mid: json.loads(v) for mid, v in raw.items()}

    async def private_of(self, sid: str, material_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(key("material_private", sid=sid), material_id)
        return None if raw is None else dict(json.loads(raw))

    async def pending(self, *, before_ms: int, limit: int = 100) -> tuple[tuple[str, str], ...]:
        """Stills uploaded before ``before_ms`` whose recognition has not landed: (sid, material id)."""
        members = await self.redis.zrangebyscore(key("recognitions_pending"), "-inf", before_ms, start=0, num=limit)
        return tuple((sid, mid) for sid, _, mid in (str(m).partition(" ") for m in members))

    async def forget_pending(self, sid: str, material_id: str) -> None:
        """Drop a still from the pending recognitions (purged, or recognised already)."""
        await self.redis.zrem(key("recognitions_pending"), f"{sid} {material_id}")

    async def capture_request(self, sid: str, request_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(key("captures", sid=sid), request_id)
        return None if raw is None else dict(json.loads(raw))


def _with_review(record: dict[str, Any], review: str | None, dept: str | None = None) -> dict[str, Any]:
    record["review"] = json.loads(review) if review else None
    if dept:  # issue 19: how a reviewer's department sees it ({view, note, by, by_name, department, at})
        record["dept"] = json.loads(dept)
    return record
