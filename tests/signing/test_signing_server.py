"""Signing on the server: request, strokes validated, PDF stamped, stored before the answer, chained, read."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pikepdf
import pytest

from window_server.appkeys import ACCESS, ACCOUNTS, REDIS, SETTINGS, STORE
from window_server.domain import errors
from window_server.domain.auth import Role
from window_server.domain.signing import check_signature
from window_server.evidence.chain import canonical, chain_problems
from window_server.evidence.store import EvidenceStore
from window_server.signing import documents
from window_server.signing.render import SIG_BOX, STAMP_PX, Stamp, render_pages, render_pdf
from window_server.signing.service import SIGNING
from window_server.store.keys import key

from .conftest import STROKES, Parties


def body(request_id: str, strokes: Any = None, width: int = 900, height: int = 300) -> dict[str, Any]:
    return {"request_id": request_id, "strokes": copy.deepcopy(STROKES) if strokes is None else strokes,
            "width": width, "height": height}


def blob(parties: Parties, sha: str) -> Path:
    return Path(parties.env.app[SETTINGS].data_dir) / "evidence" / sha[:2] / sha[2:4] / sha


def pdf_page_image(pdf: bytes, index: int = -1) -> np.ndarray:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[index]
        (_name, raw), = page.get_images().items()
        pil = pikepdf.PdfImage(raw).as_pil_image()
    return np.asarray(pil.convert("L"))


async def test_the_commitment_letter_is_signed_stamped_stored_chained_and_shown(parties: Parties) -> None:
    env = parties.env
    asked = await parties.ask("commitment")
    ack, pushed = asked["ack"], asked["pushed"]
    matter = env.app[SIGNING].catalogue.matter(env.demo["matter"])
    document = documents.build("commitment", matter, env.sid)
    # the booth is sent the document; its hash is over the canonical text anyone can rebuild
    assert pushed["sha256"] == ack["sha256"] == hashlib.sha256(canonical(document)).hexdigest()
    assert pushed["title"] == document["title"] and pushed["paragraphs"] == document["paragraphs"]
    assert any(matter.department in p["zh"] for p in pushed["paragraphs"])
    assert any(m.name_zh in p["zh"] for m in matter.materials for p in pushed["paragraphs"])

    status, answer = await parties.upload(body(ack["request_id"]))
    assert status == 201, answer
    sig = answer["signature"]
    # on disk (fsynced, content-addressed) and in Redis, chained, before the answer came
    for field in ("pdf_sha256", "strokes_sha256"):
        assert blob(parties, sig[field]).is_file()
    stored = json.loads((await env.app[REDIS].lrange(key("signatures", sid=env.sid), 0, -1))[0])
    assert stored["id"] == sig["id"] and stored["n"] == 0 and stored["document"] == document
    assert blob(parties, sig["pdf_sha256"]).read_bytes().startswith(b"%PDF")
    chain = await EvidenceStore(env.app[REDIS]).chain(env.sid)
    assert [(e["kind"], e["ref"]) for e in chain] == [("signature_strokes", "0"), ("signature", "0"),
                                                      ("signature_record", "0")]
    assert [chain[0]["sha256"], chain[1]["sha256"]] == [sig["strokes_sha256"], sig["pdf_sha256"]]
    assert blob(parties, chain[2]["sha256"]).read_bytes() == canonical(stored)
    assert chain_problems(chain) == []

    # both parties are told at once
    added = await parties.agent.next("signature_added")
    assert added["signature"]["id"] == sig["id"] and added["signature"]["url"] == sig["url"]
    assert added["signature"]["sha256"] == ack["sha256"]
    thanks = await parties.booth.next("signature_added")
    assert thanks == {"sid": env.sid, "request_id": ack["request_id"], "doc": "commitment", "at": sig["at"]}

    # the specialist fetches the PDF: its bytes are the ones chained, its stamp the session and the document's hash
    status, pdf, headers = await env.get(sig["url"].split(env.sid, 1)[1], env.cookie(env.agent_cookie))
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf).hexdigest() == sig["pdf_sha256"]
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = {str(k): str(v) for k, v in doc.docinfo.items()}
    assert f"sid={env.sid}" in meta["/Keywords"] and f"doc_sha256={ack['sha256']}" in meta["/Keywords"]
    assert env.sid in meta["/Subject"] and ack["sha256"] in meta["/Subject"]
    # the strokes reproduce the PDF byte for byte (the stored strokes, the stored document, the stamp)
    strokes = json.loads(blob(parties, sig["strokes_sha256"]).read_bytes())
    assert strokes["strokes"] == STROKES
    stamp = Stamp(sid=env.sid, at_ms=sig["at"], tz=env.app[SETTINGS].timezone, doc_sha256=ack["sha256"],
                  request_id=ack["request_id"], n=0)
    assert hashlib.sha256(render_pdf(document, strokes, stamp)).hexdigest() == sig["pdf_sha256"]
    # the last page is the page drawn with the stamp's words (pixel for pixel), and OCR reads them back
    page = pdf_page_image(pdf)
    assert np.array_equal(page, np.asarray(render_pages(document, strokes, stamp)[-1]))
    from window_server.documents.ocr import engine

    ocr = engine()
    box_rows = np.flatnonzero((page == 160).sum(axis=1) > SIG_BOX[0] // 2)  # the signature box's edges
    stamp_area = page[box_rows.max() + 10: box_rows.max() + 10 + 6 * round(STAMP_PX * 1.5)]
    bgr = cv2.cvtColor(np.ascontiguousarray(stamp_area), cv2.COLOR_GRAY2BGR)
    texts = [t.replace(" ", "") for t, _ in ocr.read(bgr, ocr.detect(bgr, max_side=bgr.shape[1]))]
    assert any(env.sid in t for t in texts), texts
    assert any(ack["sha256"][:16] in t for t in texts), texts

    # listed for the specialist, with the PDF's URL
    status, listed, _ = await env.get("/signatures", env.cookie(env.agent_cookie))
    assert status == 200 and [s["id"] for s in listed["signatures"]] == [sig["id"]] and listed["pending"] == []


async def test_re_signing_keeps_every_signature_and_a_retry_is_the_same_answer(parties: Parties) -> None:
    first = (await parties.ask("commitment"))["ack"]
    status, a = await parties.upload(body(first["request_id"]))
    assert status == 201
    # a retry after a lost answer: the same strokes are the same signature (200), others are refused
    assert await parties.upload(body(first["request_id"])) == (200, a)
    other = copy.deepcopy(STROKES)
    other[0][0][0] = 41.0
    status, refused = await parties.upload(body(first["request_id"], other))
    assert (status, refused["error"]["code"]) == (409, "sign_request_closed")
    second = (await parties.ask("commitment"))["ack"]
    third = (await parties.ask("application_form"))["ack"]  # replaces the second, still pending
    status, refused = await parties.upload(body(second["request_id"]))
    assert (status, refused["error"]["code"]) == (409, "sign_request_closed")
    status, b = await parties.upload(body(third["request_id"]))
    assert status == 201 and b["signature"]["n"] == 1 and b["signature"]["doc"] == "application_form"
    status, listed, _ = await parties.env.get("/signatures", parties.env.cookie(parties.env.agent_cookie))
    assert [s["n"] for s in listed["signatures"]] == [0, 1]


async def test_not_now_tells_the_specialist_and_closes_the_request(parties: Parties) -> None:
    ack = (await parties.ask())["ack"]
    assert await parties.booth.ok("sign_declined", {"sid": parties.env.sid, "request_id": ack["request_id"]}) == {}
    told = await parties.agent.next("sign_declined")
    assert (told["request_id"], told["doc"]) == (ack["request_id"], "commitment")
    status, refused = await parties.upload(body(ack["request_id"]))
    assert (status, refused["error"]["code"]) == (409, "sign_request_closed")
    again = await parties.booth.call("sign_declined", {"sid": parties.env.sid, "request_id": ack["request_id"]})
    assert again["error"]["code"] == "sign_request_closed"
    unknown = await parties.booth.call("sign_declined", {"sid": parties.env.sid, "request_id": "q" + "0" * 16})
    assert unknown["error"]["code"] == "unknown_sign_request"


async def test_only_the_specialist_holding_the_session_asks(parties: Parties) -> None:
    bad = await parties.agent.call("sign_request", {"sid": parties.env.sid, "doc": "passport"})
    assert (bad["error"]["code"], bad["error"].get("field")) == ("invalid_input", "doc")
    store = parties.env.app[STORE]
    await store.complete(parties.env.agent, parties.env.sid, outcome="consultation")
    ended = await parties.agent.call("sign_request", {"sid": parties.env.sid, "doc": "commitment"})
    assert ended["error"]["code"] == "illegal_transition"


def _mutate(path: str, value: Any) -> Any:
    def change(b: dict[str, Any]) -> dict[str, Any]:
        if path == "drop":
            del b[value]
        elif path == "extra":
            b["note"] = value
        elif path == "points":
            b["strokes"][0][1] = value
        elif path == "next_stroke":
            b["strokes"][1][0] = value
        else:
            b[path] = value
        return b
    return change


CASES = [
    (_mutate("strokes", []), "empty_signature", "strokes"),
    (_mutate("strokes", [[]]), "empty_signature", "strokes"),
    (_mutate("strokes", "scribble"), "invalid_strokes", "strokes"),
    (_mutate("points", [10, 10]), "invalid_strokes", "strokes"),  # not [x, y, t]
    (_mutate("points", [10, 10, "t"]), "invalid_strokes", "strokes"),
    (_mutate("points", [10, 10, True]), "invalid_strokes", "strokes"),
    (_mutate("points", [901, 10, 40]), "invalid_strokes", "strokes"),  # outside the pad
    (_mutate("points", [10, -1, 40]), "invalid_strokes", "strokes"),
    (_mutate("points", [10, 10, -5]), "invalid_strokes", "strokes"),  # before the first touch
    (_mutate("points", [120.5, 90.0, 90]), "invalid_strokes", "strokes"),  # back in time, in a stroke
    (_mutate("next_stroke", [350.0, 150.0, 100]), "invalid_strokes", "strokes"),  # and between strokes
    (_mutate("points", [120.5, 90.0, 40.5]), "invalid_strokes", "strokes"),  # not whole ms
    (_mutate("points", [float("nan"), 90.0, 40]), "invalid_strokes", "strokes"),
    (_mutate("strokes", [[[1, 1, 0]]] * 201), "invalid_strokes", "strokes"),  # too many strokes
    (_mutate("strokes", [[[1, 1, 0]] * 4001]), "invalid_strokes", "strokes"),  # too long a stroke
    (_mutate("strokes", [[[1, 1, 0]] * 4000] * 6), "invalid_strokes", "strokes"),  # too many points
    (_mutate("width", 10), "invalid_input", "width"),
    (_mutate("height", 5000), "invalid_input", "height"),
    (_mutate("width", "900"), "invalid_input", "width"),
    (_mutate("request_id", "c0123456789abcdef"), "invalid_input", "request_id"),
    (_mutate("drop", "strokes"), "invalid_strokes", "strokes"),
    (_mutate("extra", "hi"), "invalid_input", "note"),
]


@pytest.mark.parametrize(("change", "code", "field"), CASES)
def test_strokes_are_validated_strictly(change: Any, code: str, field: str) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        check_signature(change(body("q" + "0" * 16)))
    assert (refused.value.code, refused.value.field, refused.value.http_status) == (code, field, 400)


def test_a_valid_signature_is_kept_as_drawn() -> None:
    sig = check_signature(body("q" + "0" * 16))
    assert sig.as_json()["strokes"] == STROKES and sig.points == 7 and sig.duration_ms == 520


async def test_a_refused_upload_stores_nothing(parties: Parties) -> None:
    ack = (await parties.ask())["ack"]
    for change, code, field in [*CASES[::4], (_mutate("request_id", "q" + "f" * 16), "unknown_sign_request",
                                              "request_id")]:
        got, refused = await parties.upload(change(body(ack["request_id"])))
        assert (refused["error"]["code"], refused["error"].get("field")) == (code, field), refused
        assert got == (404 if code == "unknown_sign_request" else 400)
    assert await parties.env.app[REDIS].llen(key("signatures", sid=parties.env.sid)) == 0
    assert await EvidenceStore(parties.env.app[REDIS]).chain(parties.env.sid) == []
    assert not (Path(parties.env.app[SETTINGS].data_dir) / "evidence").exists()


async def test_the_body_is_json_capped_and_read_only_for_the_sessions_booth(parties: Parties) -> None:
    env = parties.env
    ack = (await parties.ask())["ack"]
    assert (await parties.upload(None, raw=b"not json"))[1]["error"]["code"] == "invalid_input"
    status, refused = await parties.upload(None, raw=b"x", content_type="text/plain")
    assert (status, refused["error"]["code"]) == (415, "unsupported_media_type")
    status, refused = await parties.upload(None, raw=b"[" + b"0," * 600_000 + b"0]")
    assert (status, refused["error"]["code"]) == (413, "too_large")
    _rec, token2 = await env.app[ACCOUNTS].add_booth("bth-sig-9", env.demo["intake_centre"])
    status, refused = await parties.upload(body(ack["request_id"]), env.booth_headers("bth-sig-9", token2))
    assert (status, refused["error"]["code"]) == (403, "not_member")
    status, refused = await parties.upload(body(ack["request_id"]), env.cookie(env.agent_cookie))
    assert (status, refused["error"]["code"]) == (403, "not_member")  # the specialist does not sign for the citizen
    status, refused = await parties.upload(body(ack["request_id"]), {"Authorization": "Bearer nope", "X-Booth": env.booth})
    assert status == 401


async def test_who_sees_signatures_and_every_view_is_logged(parties: Parties) -> None:
    env = parties.env
    ack = (await parties.ask())["ack"]
    status, answer = await parties.upload(body(ack["request_id"]))
    assert status == 201
    path = answer["signature"]["url"].split(env.sid, 1)[1]
    manager = env.cookie(await env.staff("mgr-sig", Role.MANAGER, env.demo["intake_centre"]))
    stranger = env.cookie(await env.staff("spec-sig-x", Role.SPECIALIST, env.demo["home_centre"]))
    assert (await env.get(path, manager))[0] == 200
    assert (await env.get(path, env.booth_headers()))[0] == 200  # the booth, while the session is open
    status, refused, _ = await env.get(path, stranger)
    assert (status, refused["error"]["code"]) == (403, "not_member")
    assert (await env.get("/signatures/g0000000000000000.pdf", manager))[1]["error"]["code"] == "unknown_signature"
    store = env.app[STORE]
    await store.complete(env.agent, env.sid, outcome="consultation")
    for p in (path, "/signatures"):
        status, refused, _ = await env.get(p, env.booth_headers())  # never the booth once the session ended
        assert (status, refused["error"]["code"]) == (403, "not_member")
    assert (await env.get(path, env.cookie(env.agent_cookie)))[0] == 200  # its specialist still
    status, refused = await parties.upload(body(ack["request_id"]))
    assert (status, refused["error"]["code"]) == (409, "illegal_transition")
    log = [(e["who"], e["action"], e["allowed"]) for e in reversed(await env.app[ACCESS].by_session(env.sid))]
    assert log == [("mgr-sig", "signature", True), (f"booth:{env.booth}", "signature", True),
                   ("spec-sig-x", "signature", False), ("mgr-sig", "signature", False),
                   (f"booth:{env.booth}", "signature", False), (f"booth:{env.booth}", "signature_list", False),
                   (env.agent, "signature", True)]
