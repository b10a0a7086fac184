"""A session's signatures are in its sealed evidence package, which verifies offline; a changed one is caught."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from tests.evidence.conftest import put_chunks
from tests.evidence.test_package import download, flip, rewrite
from window_server.appkeys import STORE
from window_server.evidence.chain import canonical
from window_server.evidence.keys import read_public_key
from window_server.evidence.package import SIGNATURE_FILES
from window_server.evidence.verify import verify_package
from window_server.http.evidence import EVIDENCE
from window_server.signing.store import PDF_KIND, RECORD_KIND, STROKES_KIND

from .conftest import STROKES, Parties


async def test_signatures_are_sealed_into_the_package_and_verify(parties: Parties, chunks: list[bytes],
                                                                seal_key_file: Path, tmp_path: Path) -> None:
    env = parties.env
    signed = []
    for doc in ("commitment", "application_form", "commitment"):  # re-signing adds, never replaces
        ack = (await parties.ask(doc))["ack"]
        status, answer = await parties.upload({"request_id": ack["request_id"], "strokes": STROKES, "width": 900,
                                               "height": 300})
        assert status == 201, answer
        signed.append(answer["signature"])
    await put_chunks(env, chunks)  # chunks chained around the signatures: one chain
    store = env.app[STORE]
    await store.complete(env.agent, env.sid, outcome="consultation")
    await store.rate(env.sid, env.booth, 5)
    assert await env.app[EVIDENCE].sealer.seal_due() == 1
    status, data, _ = await download(env, env.sid, env.cookie(env.agent_cookie))
    assert status == 200
    path = tmp_path / "package.zip"
    path.write_bytes(data)
    public = read_public_key(seal_key_file)
    assert verify_package(path, public).ok, verify_package(path, public).problems

    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for n, sig in enumerate(signed):
            pdf = zf.read(f"signatures/{n}.pdf")
            assert hashlib.sha256(pdf).hexdigest() == sig["pdf_sha256"] and pdf.startswith(b"%PDF")
            strokes = json.loads(zf.read(f"signatures/{n}.strokes.json"))
            assert strokes["strokes"] == STROKES and hashlib.sha256(canonical(strokes)).hexdigest() == sig[
                "strokes_sha256"]
            record = json.loads(zf.read(f"signatures/{n}.json"))
            assert (record["id"], record["n"], record["doc"], record["pdf_sha256"]) == (sig["id"], n, sig["doc"],
                                                                                       sig["pdf_sha256"])
            # the document's text is in the record: its hash can be checked without the server
            assert hashlib.sha256(canonical(record["document"])).hexdigest() == record["sha256"]
        index = json.loads(zf.read("signatures.json"))  # at seal time: the records in one list
        assert [r["id"] for r in index["signatures"]] == [s["id"] for s in signed]
        assert index["signatures"] == [json.loads(zf.read(f"signatures/{n}.json")) for n in range(3)]
        summary = zf.read("summary.html").decode()
    assert {"signatures/0.pdf", "signatures/2.json", "recording/seg0/0.webm"} <= names
    assert "signatures/1.pdf" in summary
    kinds = {STROKES_KIND, PDF_KIND, RECORD_KIND}
    assert kinds == set(SIGNATURE_FILES)  # the package names each kind the store chains

    # a signature changed or dropped after the seal is named
    changed = rewrite(path, tmp_path / "changed.zip", lambda n, b: flip(b) if n == "signatures/1.pdf" else b)
    assert verify_package(changed, public).problems == ["changed: signatures/1.pdf"]
    dropped = rewrite(path, tmp_path / "dropped.zip", lambda n, b: None if n == "signatures/0.strokes.json" else b)
    assert verify_package(dropped, public).problems == ["missing: signatures/0.strokes.json"]
