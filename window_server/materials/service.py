"""The materials' use cases: uploads, listing, views, the PDF and the ID-card page.

HTTP handlers call these with an authenticated principal; the rules of who may do what are in
``window_server.domain.materials``, the atomic records in ``materials/store.py`` (Lua), the
pixels in the ``DocumentPool`` (worker processes) and the bytes in a ``BlobStore`` (written and
fsynced in a thread before anything is acknowledged). Nothing here decodes an image on the
event loop: the loop only reads a header (``sniff``) and checks how a file ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from window_server.documents.codec import check_complete
from window_server.documents.pipeline import CheckResult
from window_server.documents.pool import DocumentPool, within
from window_server.documents.quality import QualityThresholds
from window_server.documents.sniff import sniff
from window_server.domain import errors
from window_server.domain import materials as M
from window_server.domain import recognition as R
from window_server.domain.auth import Principal, Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.idcard import UNKNOWN
from window_server.materials.recognition import Notify, Recogniser
from window_server.materials.store import MaterialStore, new_material_id
from window_server.store.blobs import BlobStore

log = logging.getLogger(__name__)

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class UploadLimits:
    """What the door lets through, and how long the workers may take (from settings)."""

    max_bytes: int = 15_728_640
    max_megapixels: float = 40.0
    timeout_s: float = 20.0
    bodies_in_flight: int = 16
    """Upload bodies held in memory at once (so at most this × max_bytes); others wait unread."""
    per_session: int = 2
    """Uploads of one session in flight at once; one more is 429 ``too_many_uploads``."""
    per_booth: int = 2
    """Uploads into one booth's sessions in flight at once: one booth cannot take every worker."""


@dataclass(frozen=True)
class Added:
    """A material just recorded, and whom to tell: the session's booth and specialist."""

    material: dict[str, Any]
    booth: str
    agent: str


@dataclass(frozen=True)
class Blob:
    """Bytes to send, with their type; ``masked``: the ID number and photo are blacked out."""

    data: bytes
    content_type: str
    masked: bool = False


class MaterialService:
    """Stills bound to sessions: checked in the pool, stored by hash, recorded in Redis."""

    def __init__(
        self,
        *,
        store: MaterialStore,
        blobs: BlobStore,
        pool: DocumentPool,
        catalogue: Catalogue,
        thresholds: QualityThresholds,
        limits: UploadLimits,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.pool = pool
        self.catalogue = catalogue
        self.thresholds = thresholds
        self.limits = limits
        self._bodies = asyncio.Semaphore(limits.bodies_in_flight)
        self._in_flight: dict[str, int] = {}  # "session:<sid>" / "booth:<id>" -> uploads now
        self.recogniser = Recogniser(store=store, blobs=blobs, pool=pool, catalogue=catalogue,
                                     timeout_s=limits.timeout_s)

    def recognise_later(self, added: Added, notify: Notify) -> None:
        """Start the second phase of an upload (after its material_added was pushed)."""
        m = added.material
        if "class" in m and m["class"] is None:
            self.recogniser.later(m["sid"], m["id"], notify)

    async def close(self) -> None:
        """Cancel the recognitions in flight (they stay pending in Redis for the next sweep)."""
        await self.recogniser.close()

    # --- the session's parties ------------------------------------------------------------------

    async def parties(self, sid: str) -> M.SessionParties:
        """Who belongs to the session (raise ``unknown_session``)."""
        sessions = self.store.store
        fields = ["state", "booth", "agent", "served", "intake_centre", "guests"]
        state, booth, agent, served_raw, intake, guests = await sessions.session_fields(sid, fields)
        if state is None:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        served = tuple(json.loads(served_raw or "[]"))
        centres: list[str] = []
        if served:
            centres = [c for c in await sessions.agents_field(list(served), "centre") if c]
        return M.SessionParties(
            sid=sid, state=str(state), booth=str(booth or ""), agent=str(agent or ""), served=served,
            intake_centre=str(intake or ""), serving_centres=tuple(dict.fromkeys(map(str, centres))),
            # issue 19: "gid=user,…" written by queue/lua/guests.lua
            guests=tuple(part.partition("=")[2] for part in str(guests or "").split(",") if "=" in part),
        )

    async def matter_of(self, sid: str) -> str:
        return await self.store.store.session_field(sid, "matter") or ""

    # --- uploads ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def body_slot(self) -> AsyncIterator[None]:
        """Hold one of the upload slots while a body is read and checked; 503 if none frees in time."""
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                await self._bodies.acquire()
        except TimeoutError:
            raise errors.Unavailable("too many stills are being uploaded; try again shortly") from None
        try:
            yield
        finally:
            self._bodies.release()

    @contextlib.contextmanager
    def upload_slot(self, parties: M.SessionParties) -> Iterator[None]:
        """Count an upload against its session's and its booth's limits; 429 past either.

        Refused at once, not queued: a booth that floods gets an answer it can act on, and
        the document workers stay free for the other booths.
        """
        names = [(f"session:{parties.sid}", self.limits.per_session)]
        if parties.booth:
            names.append((f"booth:{parties.booth}", self.limits.per_booth))
        for name, limit in names:
            if self._in_flight.get(name, 0) >= limit:
                log.info("upload refused: %d in flight for %s", limit, name)
                raise errors.RateLimited(f"{limit} still(s) of this {name.split(':')[0]} are being checked; "
                                         "send the next when one is done", code="too_many_uploads")
        for name, _limit in names:
            self._in_flight[name] = self._in_flight.get(name, 0) + 1
        try:
            yield
        finally:
            for name, _limit in names:
                left = self._in_flight[name] - 1
                if left:
                    self._in_flight[name] = left
                else:
                    del self._in_flight[name]

    async def admit_upload(
        self, principal: Principal, sid: str, kind: str, camera: str, request: str
    ) -> M.SessionParties:
        """Everything checked before a byte of the body is read: 404, 403, 409, 400."""
        parties = await self._parties_or_refuse(sid, f"you are not a member of session {sid}")
        if not M.may_add(principal, parties):
            raise errors.Forbidden(f"you are not a member of session {sid}", code="not_member", field="sid")
        if parties.state not in M.HELD:
            raise errors.Conflict(
                f"session {sid} is {parties.state}: materials are added only while it is served",
                code="illegal_transition",
            )
        matter = self.catalogue.matter(await self.matter_of(sid))
        M.check_kind(matter, kind)
        M.check_camera(camera)
        if request and (not M.is_request_id(request) or await self.store.capture_request(sid, request) is None):
            raise errors.NotFound(f"no capture request {request[:64]!r} in session {sid}",
                                  code="unknown_request", field="request")
        return parties

    async def upload(
        self,
        principal: Principal,
        parties: M.SessionParties,
        *,
        kind: str,
        camera: str,
        request: str,
        data: bytes,
    ) -> Added:
        """Check a still in the pool, store its three variants durably, then record it (Lua)."""
        header = sniff(data, max_megapixels=self.limits.max_megapixels)  # 415 / 413 / 400, no decode
        check_complete(data, header)  # 400 corrupt_image: cut short in transit
        result, corrected, thumb = await self._in_pool(
            self.pool.process_upload(data, self.thresholds), "check the still")
        sha, corrected_sha, thumb_sha = await asyncio.gather(
            self.blobs.put(data),
            self.blobs.put(corrected) if corrected is not None else _none(),
            self.blobs.put(thumb),
        )
        record = _record(
            parties.sid, kind, camera, request, principal, header.format, sha, len(data), result,
            corrected_sha, len(corrected) if corrected is not None else 0, thumb_sha,
        )
        return await self._add(principal, parties.sid, record)

    async def merge_id_card(self, principal: Principal, sid: str, front: str, back: str) -> Added:
        """Both sides' corrected pages on one A4 page (身份证正反面合并), kept as a new material."""
        parties = await self._parties_or_refuse(sid, "only the specialist serving the session may merge")
        if M.is_booth_side(principal) or not M.may_add(principal, parties):
            raise errors.Forbidden("only the specialist serving the session may merge", code="not_member", field="sid")
        if parties.state not in M.HELD:
            raise errors.Conflict(f"session {sid} is {parties.state}: materials are added only while it is served",
                                  code="illegal_transition")
        sides = []
        for name, mid in (("front", front), ("back", back)):
            m = await self.store.get(sid, mid) if M.is_material_id(mid) else None
            if m is None:
                raise errors.NotFound(f"no material {str(mid)[:32]!r} in session {sid}",
                                      code="unknown_material", field=name)
            if not m.get("corrected_sha256"):
                raise errors.InvalidInput(f"no card was found on the {name} still; capture it again",
                                          code="no_document", field=name)
            if "class" in m and m["class"] is None:  # its masked rendition is not known yet
                raise errors.Conflict(f"the {name} still is still being recognised; merge when it is",
                                      code="recognition_pending", field=name)
            sides.append(m)
        front_bytes, back_bytes = await asyncio.gather(*(self.blobs.get(m["corrected_sha256"]) for m in sides))
        page = await self._in_pool(self.pool.merge_id_card(front_bytes, back_bytes), "merge the card")
        thumb = await self._in_pool(self.pool.thumbnail(page), "make a thumbnail")
        sha, thumb_sha = await asyncio.gather(self.blobs.put(page), self.blobs.put(thumb))
        masked_sha = masked_thumb_sha = None
        if any(m.get("masked") for m in sides):  # the same page from the masked sides, for everyone else
            masked_front, masked_back = await asyncio.gather(
                *(self.blobs.get(m.get("masked_sha256") or m["corrected_sha256"]) for m in sides))
            masked = await self._in_pool(self.pool.merge_id_card(masked_front, masked_back), "merge the card")
            masked_thumb = await self._in_pool(self.pool.thumbnail(masked), "make a thumbnail")
            masked_sha, masked_thumb_sha = await asyncio.gather(self.blobs.put(masked), self.blobs.put(masked_thumb))
        header = sniff(page, max_megapixels=self.limits.max_megapixels)
        reasons = list(dict.fromkeys(r for m in sides for r in m.get("reasons", [])))
        record: dict[str, Any] = {
            "id": new_material_id(), "sid": sid, "kind": M.MERGED_KIND, "camera": "merged",
            "format": "jpeg", "sha256": sha, "size": len(page), "width": header.width,
            "height": header.height, "verdict": "rejected" if reasons else "accepted",
            "reasons": reasons, "sharpness": None, "glare": None, "brightness": None,
            "coverage": None, "corners": None, "by": M.viewer_tag(principal), "at": 0,
            "request": None, "corrected_sha256": sha, "corrected_size": len(page),
            "thumb_sha256": thumb_sha, "sources": [front, back],
            # nothing to recognise: the page is made of two stills recognised already
            "class": UNKNOWN, "recognition": None, "masked": masked_sha is not None,
            "masked_sha256": masked_sha, "masked_thumb_sha256": masked_thumb_sha,
        }
        return await self._add(principal, sid, record)

    async def _add(self, principal: Principal, sid: str, record: dict[str, Any]) -> Added:
        now = self.store.now_ms()
        record["at"] = now
        event = {
            "kind": record["kind"], "camera": record["camera"], "sha256": record["sha256"],
            "size": str(record["size"]), "width": str(record["width"]), "height": str(record["height"]),
            "verdict": record["verdict"], "reasons": ",".join(record["reasons"]),
            "corrected": record["corrected_sha256"] or "", "thumb": record["thumb_sha256"],
            "request": record["request"] or "",
        }
        res = await self.store.add(sid, record, role=M.party_role(principal), subject=principal.subject,
                                   by=M.viewer_tag(principal), event=event, now=now)
        record["review"] = None
        log.info("material %s added session=%s kind=%s verdict=%s by=%s", record["id"], sid, record["kind"],
                 record["verdict"], record["by"])
        return Added(record, str(res.ok.get("booth") or ""), str(res.ok.get("agent") or ""))

    async def _in_pool(self, work: Any, what: str) -> Any:
        """Await pool work within the configured time; a timeout is 503 ``unavailable``."""
        return await within(work, self.limits.timeout_s, what)

    # --- reading (every image served is recorded first) -----------------------------------------

    async def visible(self, principal: Principal, sid: str) -> M.SessionParties:
        """The session's parties if ``principal`` may see its materials; 403 ``not_member`` otherwise."""
        refusal = f"you may not see the materials of session {sid}"
        parties = await self._parties_or_refuse(sid, refusal)
        if not M.may_view(principal, parties):
            raise errors.Forbidden(refusal, code="not_member", field="sid")
        return parties

    async def _parties_or_refuse(self, sid: str, refusal: str) -> M.SessionParties:
        """The parties; a session that does not exist gets the very answer of one that is not
        the caller's (403 ``not_member``), so session numbers cannot be probed."""
        try:
            return await self.parties(sid)
        except errors.NotFound:
            raise errors.Forbidden(refusal, code="not_member", field="sid") from None

    async def list(self, principal: Principal, sid: str) -> list[dict[str, Any]]:
        """Every material, oldest first; for the booth each with what it was last told of it
        (``advice_zh``, ``advice_en``): a reloaded kiosk rebuilds its checklist from this."""
        await self.visible(principal, sid)
        materials = await self.store.list(sid)
        if principal.role is not Role.DEVICE:
            return materials
        code = await self.matter_of(sid)
        matter = self.catalogue.matter(code) if self.catalogue.has_matter(code) else None
        for m in materials:
            advice = _advice_now(m, matter)
            m["advice_zh"], m["advice_en"] = advice.zh, advice.en
        return materials

    async def variant(self, principal: Principal, sid: str, material_id: str, variant: str) -> Blob:
        """The bytes of one variant of one material; the view is recorded before they are sent.

        A still with a masked rendition is served masked to everyone but the specialist holding
        the session (``domain.recognition.sees_unmasked``): the original and the corrected page
        as the masked page, the thumbnail as its thumbnail.
        """
        parties = await self.visible(principal, sid)
        if variant not in M.VARIANTS:
            raise errors.InvalidInput(f"variant must be one of {', '.join(M.VARIANTS)}", field="variant")
        m = await self._material(sid, material_id)
        masked = bool(m.get("masked")) and (variant == "masked" or not R.sees_unmasked(principal, parties))
        if masked:
            sha = m.get("masked_thumb_sha256") if variant == "thumb" else m.get("masked_sha256")
        else:
            sha = {"original": m["sha256"], "corrected": m.get("corrected_sha256"),
                   "thumb": m.get("thumb_sha256"), "masked": None}[variant]
        if not sha:
            raise errors.NotFound("this material has no masked rendition (nothing on it is hidden)" if variant == "masked"
                                  else "this material has no corrected page (no document was found on it)",
                                  code="no_variant", field="variant")
        data = await self.blobs.get(sha)
        await self.store.viewed(sid, [material_id], variant, by=M.viewer_tag(principal), role=principal.role.value,
                                masked=masked)
        fmt = m.get("format", "jpeg") if variant == "original" and not masked else "jpeg"
        return Blob(data, CONTENT_TYPES.get(fmt, "application/octet-stream"), masked)

    async def id_fields(self, principal: Principal, sid: str, material_id: str) -> dict[str, Any]:
        """What was read off an ID card in full: only for the specialist holding the session (recorded)."""
        parties = await self.visible(principal, sid)
        if not R.sees_unmasked(principal, parties):
            raise errors.Forbidden("only the specialist serving the session sees the fields of an ID card",
                                   code="not_serving", field="sid")
        await self._material(sid, material_id)
        read = await self.store.private_of(sid, material_id)
        if read is None:
            raise errors.NotFound("nothing was read off this material (not an ID card, or not recognised yet)",
                                  code="no_variant", field="material_id")
        await self.store.viewed(sid, [material_id], "id_fields", by=M.viewer_tag(principal),
                                role=principal.role.value)
        return {k: read.get(k) for k in R.ID_FIELDS}

    async def _material(self, sid: str, material_id: str) -> dict[str, Any]:
        m = await self.store.get(sid, material_id) if M.is_material_id(material_id) else None
        if m is None:
            raise errors.NotFound(f"no material {material_id[:32]!r} in session {sid}", code="unknown_material",
                                  field="material_id")
        return m

    async def pdf(self, principal: Principal, sid: str) -> Blob:
        """The corrected pages of the materials the specialist accepted, as one PDF (recorded);
        masked pages for everyone but the specialist holding the session, as for the stills."""
        parties = await self.visible(principal, sid)
        accepted = [m for m in await self.store.list(sid) if (m.get("review") or {}).get("verdict") == "accepted"]
        if not accepted:
            raise errors.Conflict(f"no material of session {sid} has been accepted yet",
                                  code="no_accepted_materials")
        hide = not R.sees_unmasked(principal, parties)
        shas = [(m.get("masked_sha256") if hide and m.get("masked") else None) or m.get("corrected_sha256")
                or m["sha256"] for m in accepted]
        masked = hide and any(m.get("masked") for m in accepted)
        pages = await asyncio.gather(*(self.blobs.get(sha) for sha in shas))
        pdf: bytes = await self._in_pool(self.pool.compose_pdf(pages, title=f"{sid} materials"), "compose the PDF")
        await self.store.viewed(sid, [m["id"] for m in accepted], "pdf", by=M.viewer_tag(principal),
                                role=principal.role.value, masked=masked)
        return Blob(pdf, "application/pdf", masked)


async def _none() -> None:
    return None


def _record(
    sid: str,
    kind: str,
    camera: str,
    request: str,
    principal: Principal,
    fmt: str,
    sha: str,
    size: int,
    result: CheckResult,
    corrected_sha: str | None,
    corrected_size: int,
    thumb_sha: str,
) -> dict[str, Any]:
    """The stored record: the public fields, then where the other variants are."""
    return {
        "id": new_material_id(), "sid": sid, "kind": kind, "camera": camera, "format": fmt,
        "sha256": sha, "size": size, "width": result.width, "height": result.height,
        "verdict": result.verdict, "reasons": list(result.reasons), "sharpness": result.sharpness,
        "glare": result.glare, "brightness": result.brightness, "coverage": result.coverage,
        "corners": None if result.corners is None else [list(c) for c in result.corners],
        "by": M.viewer_tag(principal), "at": 0, "request": request or None,
        "corrected_sha256": corrected_sha, "corrected_size": corrected_size or None, "thumb_sha256": thumb_sha,
        # the second phase fills these in (materials/recognition.py); null: not recognised yet
        "class": None, "recognition": None, "masked": False, "masked_sha256": None, "masked_thumb_sha256": None,
    }


def _advice_now(m: dict[str, Any], matter: Any) -> M.Advice:
    """The citizen's words for a material as it stands: the specialist's verdict if any, else the
    automatic check's (a wrong document named in the catalogue's words, as the recognition says it)."""
    review = m.get("review")
    if review:
        return M.advice_for_verdict(str(review.get("verdict", "")), str(review.get("reason") or ""))
    reasons = m.get("reasons") or []
    if "wrong_kind" in reasons and matter is not None:
        try:
            material = matter.material(m["kind"])
        except errors.NotFound:
            return M.ADVICE["wrong_kind"]
        return M.advice_wrong_kind(m["kind"], material.name_zh, material.name_en)
    return M.advice_for_check(str(m.get("verdict", "")), reasons)
