"""Signing (E2): a specialist asks, the citizen reads and signs on the kiosk, the server stamps a PDF.

Every change goes through ``SigningService``: ``request`` (the specialist holding the session asks
for the 告知承诺书 or the 申请表; the document is built from the catalogue and hashed), ``decline``
(the citizen's 暂不签), ``sign`` (the kiosk's strokes: validated, drawn into the stamped PDF, the
strokes' JSON and the PDF fsynced under their SHA-256, then recorded and chained in one Redis
script, and only then answered), and the reads (``listing``, ``pdf``) for those who may see the
session's stills. Pushes go through ``Notify`` (the hub, given by the composition root); a push
that fails never undoes what was stored.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from window_server.domain import errors
from window_server.domain import materials as M
from window_server.domain import signing as G
from window_server.domain.auth import Principal
from window_server.domain.catalogue import Catalogue
from window_server.domain.session import HELD_STATES
from window_server.evidence.chain import canonical
from window_server.signing import documents
from window_server.signing.render import Stamp, render_pdf
from window_server.signing.store import SigningStore
from window_server.store.blobs import FileBlobStore, sha256_hex

log = logging.getLogger(__name__)

Parties = Callable[[str], Awaitable[M.SessionParties]]
#: (event, payload, namespace role "booth" | "agent", subject): one push to one party's room.
Notify = Callable[[str, dict[str, Any], str, str], Awaitable[None]]
Clock = Callable[[], int]
MatterOf = Callable[[str], Awaitable[str]]

#: What the specialist's consoles are told of a signature (never the strokes or the document's text).
PUBLIC_FIELDS = ("id", "n", "doc", "request_id", "at", "sha256", "pdf_sha256", "strokes_sha256", "points", "by",
                 "title")


def signature_url(sid: str, sig_id: str) -> str:
    return f"/api/sessions/{sid}/signatures/{sig_id}.pdf"


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A signature as listed and pushed: its facts and the URL of its PDF."""
    out = {k: record.get(k) for k in PUBLIC_FIELDS}
    out["url"] = signature_url(str(record.get("sid", "")), str(record["id"]))
    return out


@dataclass(frozen=True)
class Signed:
    """A signature's answer: ``created`` False for a repeat of the same strokes (a retry)."""

    created: bool
    signature: dict[str, Any]


class SigningService:
    """Sign requests, signatures and their PDFs."""

    def __init__(self, *, store: SigningStore, blobs: FileBlobStore, catalogue: Catalogue, parties: Parties,
                 matter_of: MatterOf, clock: Clock, tz: str, notify: Notify | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.catalogue = catalogue
        self.parties = parties
        self.matter_of = matter_of
        self.clock = clock
        self.tz = tz
        self.notify = notify

    async def _parties(self, sid: str, refusal: str) -> M.SessionParties:
        """A session that does not exist is answered as one that is not yours (no probing)."""
        try:
            return await self.parties(sid)
        except errors.NotFound:
            raise errors.Forbidden(refusal, code="not_member", field="sid") from None

    async def _push(self, event: str, payload: dict[str, Any], role: str, subject: str) -> None:
        if self.notify is None or not subject:
            return
        try:
            await self.notify(event, payload, role, subject)
        except Exception:  # the signature is stored; a lost push is made good by the list
            log.exception("signing session=%s: %s not pushed to %s", payload.get("sid"), event, role)

    # --- asking -----------------------------------------------------------------------------------

    async def request(self, agent: str, sid: str, doc: str) -> dict[str, Any]:
        """Record a sign request of ``doc`` (the specialist holding ``sid``) and send it to the booth."""
        if doc not in G.DOCS:
            raise errors.InvalidInput(f"doc must be one of {', '.join(G.DOCS)}", field="doc")
        code = await self.matter_of(sid)
        if not code:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        if not self.catalogue.has_matter(code):
            raise errors.NotFound(f"the matter of session {sid} is not in the catalogue", code="unknown_matter")
        document = documents.build(doc, self.catalogue.matter(code), sid)
        sha = documents.digest(document)
        request_id = "q" + secrets.token_hex(8)
        now = self.clock()
        request = {"id": request_id, "sid": sid, "doc": doc, "sha256": sha, "at": now, "by": agent,
                   "state": "pending", "document": document}
        reply = await self.store.add_request(sid, agent, request, held=sorted(HELD_STATES))
        if err := reply.get("err"):
            if err == "illegal_transition":
                raise errors.Conflict(f"session {sid} is {reply.get('state')}: nobody to sign",
                                      code="illegal_transition")
            if err == "unknown_session":
                raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
            raise errors.Forbidden(f"session {sid} is not held by you", code="not_your_session", field="sid")
        log.info("sign request %s session=%s doc=%s by=%s", request_id, sid, doc, agent)
        await self._push("sign_request", booth_request(request), "booth", reply["ok"]["booth"])
        return {"request_id": request_id, "doc": doc, "sha256": sha, "at": now, "title": document["title"]}

    async def decline(self, booth: str, sid: str, request_id: str) -> dict[str, Any]:
        """The citizen's 暂不签: the request is closed and the specialist told."""
        if not G.is_request_id(request_id):
            raise errors.NotFound(f"no sign request {request_id[:32]!r}", code="unknown_sign_request",
                                  field="request_id")
        now = self.clock()
        reply = await self.store.decline(sid, booth, request_id, held=sorted(HELD_STATES), now=now)
        if err := reply.get("err"):
            raise _refusal(err, sid, reply)
        log.info("sign request %s session=%s declined at the booth", request_id, sid)
        await self._push("sign_declined", {"sid": sid, "request_id": request_id, "doc": reply["ok"]["doc"], "at": now},
                         "agent", reply["ok"]["agent"])
        return {}

    # --- signing ----------------------------------------------------------------------------------

    async def admit(self, principal: Principal, sid: str) -> M.SessionParties:
        """Refuse before the body is read: only the session's own booth, while the session is held."""
        parties = await self._parties(sid, f"you are not the booth of session {sid}")
        if not M.is_booth_side(principal) or principal.subject != parties.booth:
            raise errors.Forbidden(f"only the booth of session {sid} signs", code="not_member", field="sid")
        if not G.may_sign(principal, parties):
            raise errors.Conflict(f"session {sid} is {parties.state}: nothing can be signed now",
                                  code="illegal_transition")
        return parties

    async def sign(self, principal: Principal, sid: str, body: Any) -> Signed:
        """Validate, draw, store (fsynced), record and chain; then tell both parties."""
        parties = await self.admit(principal, sid)
        signature = G.check_signature(body)
        request = await self.store.request(sid, signature.request_id)
        if request is None:
            raise errors.NotFound(f"no sign request {signature.request_id} in session {sid}",
                                  code="unknown_sign_request", field="request_id")
        strokes = signature.as_json()
        strokes_bytes = canonical(strokes)
        strokes_sha = sha256_hex(strokes_bytes)
        state = request.get("state")
        if state == "signed" and request.get("strokes_sha256") == strokes_sha:  # a retry after a lost answer
            done = next((s for s in await self.store.list(sid) if s["id"] == request.get("signature")), None)
            if done is not None:
                return Signed(False, done)
        if state != "pending":
            raise errors.Conflict(f"sign request {signature.request_id} is {state}", code="sign_request_closed",
                                  field="request_id")
        at = self.clock()
        n = len(await self.store.list(sid))  # one pending request at a time: checked again in Redis
        record: dict[str, Any] = {
            "id": "g" + secrets.token_hex(8), "sid": sid, "n": n, "doc": request["doc"], "request_id": request["id"],
            "title": request["document"]["title"], "sha256": request["sha256"], "strokes_sha256": strokes_sha,
            "at": at, "tz": self.tz, "by": M.viewer_tag(principal), "agent": parties.agent,
            "requested_by": request.get("by", ""), "requested_at": request.get("at"),
            "points": signature.points, "strokes": len(signature.strokes), "duration_ms": signature.duration_ms,
            "width": signature.width, "height": signature.height, "document": request["document"],
        }
        stamp = Stamp(sid=sid, at_ms=at, tz=self.tz, doc_sha256=request["sha256"], request_id=request["id"], n=n)
        pdf = await asyncio.to_thread(render_pdf, request["document"], strokes, stamp)
        record["pdf_sha256"] = sha256_hex(pdf)
        record_bytes = canonical(record)  # signatures/<n>.json in the evidence package
        await self.blobs.put(strokes_bytes)  # durable before Redis records and chains them
        await self.blobs.put(pdf)
        record_sha = await self.blobs.put(record_bytes)
        reply = await self.store.add_signature(sid, parties.booth, record, record_sha256=record_sha,
                                               held=sorted(HELD_STATES))
        if err := reply.get("err"):
            raise _refusal(err, sid, reply)
        if "dup" in reply:
            return Signed(False, reply["dup"])
        stored = record  # as stored (the script's copy went through Lua's JSON)
        log.info("signature %s (no. %d, %s) session=%s stored and chained", stored["id"], stored["n"], stored["doc"],
                 sid)
        await self._push("signature_added", {"sid": sid, "signature": public(stored)}, "agent", str(reply.get("agent")))
        await self._push("signature_added", {"sid": sid, "request_id": stored["request_id"], "doc": stored["doc"],
                                             "at": stored["at"]}, "booth", parties.booth)
        return Signed(True, stored)

    # --- reading ----------------------------------------------------------------------------------

    async def viewer(self, principal: Principal, sid: str) -> M.SessionParties:
        """The parties if ``principal`` may see ``sid``'s signatures: 403 ``not_member`` otherwise."""
        parties = await self._parties(sid, f"you may not see the signatures of session {sid}")
        if not G.may_see(principal, parties):
            raise errors.Forbidden(f"you may not see the signatures of session {sid}", code="not_member", field="sid")
        return parties

    async def listing(self, principal: Principal, sid: str) -> dict[str, Any]:
        """The session's signatures (oldest first) and its sign requests still pending."""
        await self.viewer(principal, sid)
        signatures = [public(s) for s in await self.store.list(sid)]
        pending = [booth_request(r) for r in await self.store.requests(sid) if r.get("state") == "pending"]
        return {"signatures": signatures, "pending": pending}

    async def pdf(self, principal: Principal, sid: str, sig_id: str) -> bytes:
        """The signed PDF's bytes (the caller logs the view)."""
        await self.viewer(principal, sid)
        found = next((s for s in await self.store.list(sid) if s["id"] == sig_id), None) if G.is_signature_id(
            sig_id) else None
        if found is None:
            raise errors.NotFound(f"no signature {sig_id[:32]!r} in session {sid}", code="unknown_signature")
        return await self.blobs.get(str(found["pdf_sha256"]))


def booth_request(request: dict[str, Any]) -> dict[str, Any]:
    """What the booth is sent to show: the document's text and hash, the request's id."""
    d = request["document"]
    return {"sid": request["sid"], "request_id": request["id"], "doc": request["doc"], "sha256": request["sha256"],
            "title": d["title"], "paragraphs": d["paragraphs"]}


def _refusal(err: str, sid: str, reply: dict[str, Any]) -> errors.RemoteWindowError:
    if err == "illegal_transition":
        return errors.Conflict(f"session {sid} is {reply.get('state')}: nothing can be signed now",
                               code="illegal_transition")
    if err == "unknown_session":
        return errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
    if err == "not_member":
        return errors.Forbidden(f"you are not the booth of session {sid}", code="not_member", field="sid")
    if err == "unknown_sign_request":
        return errors.NotFound(f"no such sign request in session {sid}", code="unknown_sign_request",
                               field="request_id")
    return errors.Conflict(f"that sign request is {reply.get('state')} already", code="sign_request_closed",
                           field="request_id")


#: The service of this node, built by the composition root (the feature's own key: appkeys imports no feature
#: that imports it).
SIGNING = web.AppKey("signing", SigningService)
