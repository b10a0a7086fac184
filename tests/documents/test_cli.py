"""The CLI contract third parties rely on: the real `python -m window_server.documents`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACT_KEYS = {
    "path", "document_found", "corners", "verdict", "reasons", "sharpness", "glare",
    "brightness", "coverage", "ms",
}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "window_server.documents", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, good_jpeg: bytes, card_jpeg: bytes, empty_jpeg: bytes) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    paths = {
        "good": d / "form.jpg", "card": d / "card.jpg", "empty": d / "plate.jpg",
        "truncated": d / "cut.jpg", "text": d / "notes.txt",
    }
    paths["good"].write_bytes(good_jpeg)
    paths["card"].write_bytes(card_jpeg)
    paths["empty"].write_bytes(empty_jpeg)
    paths["truncated"].write_bytes(good_jpeg[: len(good_jpeg) // 2])
    paths["text"].write_text("not an image")
    return paths


def test_check_json_prints_one_contract_line_per_image(files: dict[str, Path]) -> None:
    proc = run("check", files["good"], files["empty"], files["card"], "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(files["good"]), str(files["empty"]), str(files["card"])]
    for line in lines:
        assert set(line) == CONTRACT_KEYS
        assert line["verdict"] in ("accepted", "rejected")
        assert all(isinstance(line[k], float) for k in ("sharpness", "glare", "brightness", "coverage", "ms"))
        assert isinstance(line["reasons"], list) and isinstance(line["document_found"], bool)
    good, empty, card = lines
    assert good["verdict"] == "accepted" and good["reasons"] == [] and good["document_found"]
    assert len(good["corners"]) == 4 and all(len(c) == 2 for c in good["corners"])
    assert empty == {**empty, "document_found": False, "corners": None, "verdict": "rejected"}
    assert "no_document" in empty["reasons"]
    assert card["document_found"]


def test_check_exits_2_on_unreadable_input_but_reports_the_rest(files: dict[str, Path]) -> None:
    missing = files["good"].with_name("missing.jpg")
    proc = run("check", files["truncated"], files["good"], files["text"], missing, "--json")
    assert proc.returncode == 2
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 4
    assert lines[0] == {"path": str(files["truncated"]), "error": {"code": "corrupt_image", "message": lines[0]["error"]["message"]}}
    assert set(lines[1]) == CONTRACT_KEYS and lines[1]["verdict"] == "accepted"
    assert lines[2]["error"]["code"] == "unsupported_media_type"
    assert lines[3]["error"]["code"] == "unreadable_file"


def test_check_without_json_prints_a_line_per_image(files: dict[str, Path]) -> None:
    proc = run("check", files["good"], files["empty"], files["text"])
    assert proc.returncode == 2
    out = proc.stdout.splitlines()
    assert len(out) == 2 and out[0].startswith(f"{files['good']}: accepted")
    assert "rejected (no_document" in out[1]
    assert "unsupported_media_type" in proc.stderr


def test_correct_writes_the_page(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "page.jpg"
    proc = run("correct", files["good"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:2] == b"\xff\xd8"
    assert run("correct", files["empty"], "--out", tmp_path / "x.jpg").returncode == 1
    assert run("correct", files["truncated"], "--out", tmp_path / "x.jpg").returncode == 2
    assert not (tmp_path / "x.jpg").exists()


def test_pdf_and_merge_id(files: dict[str, Path], tmp_path: Path) -> None:
    pdf = tmp_path / "case.pdf"
    assert run("pdf", files["good"], files["card"], "--out", pdf).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    bad = run("pdf", files["good"], files["text"], "--out", tmp_path / "bad.pdf")
    assert bad.returncode == 2 and str(files["text"]) in bad.stderr
    page = tmp_path / "id.jpg"
    assert run("merge-id", files["card"], files["card"], "--crop", "--out", page).returncode == 0
    assert page.read_bytes()[:2] == b"\xff\xd8"


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("check").returncode == 2
