"""The CLI contract third parties rely on: the real `python -m window_server.documents`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from citizen_client import synthetic_documents as sd
from citizen_client import synthetic_scene as ss
from window_server.documents.codec import encode_jpeg
from window_server.domain.privacy import mask_id_number

CONTRACT_KEYS = {
    "path", "document_found", "corners", "verdict", "reasons", "sharpness", "glare",
    "brightness", "coverage", "ms", "class", "confidence",
}
FRONT_KEYS = CONTRACT_KEYS | {"id_number_masked", "id_number_valid"}
BACK_KEYS = CONTRACT_KEYS | {"valid_until", "expired"}
REVEALED = {"id_number", "name", "sex", "birth_date", "valid_from", "valid_until", "issuer"}


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
    assert empty == {**empty, "document_found": False, "corners": None, "verdict": "rejected", "class": "unknown"}
    assert "no_document" in empty["reasons"]
    assert card["document_found"]
    assert good["class"] == "page" and card["class"] == "unknown"  # Latin gibberish: nothing to read


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


# --- recognition: the class, the ID card's fields masked, --expect, --reveal ----------------------


def still(document: str, seed: int, who: sd.Identity | None = None) -> bytes:
    """A good 2 MP still of ``document`` without a finger over it."""
    scene, _ = ss.labelled_scene(document, np.random.default_rng(seed), 1600, 1200, identity=who, fingertip=False,
                                 rotation=float(seed % 4) * 90 + 4.0)
    return encode_jpeg(scene.image)


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, sd.Identity]]:
    d = tmp_path_factory.mktemp("cards")
    today = date.today()
    people = {
        "front": ("id_card_front", sd.make_identity(np.random.default_rng(41), today=today)),
        "invalid": ("id_card_front", sd.make_identity(np.random.default_rng(42), valid=False, today=today)),
        "expired": ("id_card_back", sd.make_identity(np.random.default_rng(43), expired=True, today=today)),
        "long_term": ("id_card_back", sd.make_identity(np.random.default_rng(44), long_term=True, today=today)),
    }
    out = {}
    for i, (name, (document, who)) in enumerate(people.items()):
        path = d / f"{name}.jpg"
        path.write_bytes(still(document, 50 + i, who))
        out[name] = (path, who)
    return out


def test_check_recognises_id_cards_and_masks_the_number_by_default(
        cards: dict[str, tuple[Path, sd.Identity]], files: dict[str, Path]) -> None:
    names = ("front", "invalid", "expired", "long_term")
    proc = run("check", *(cards[n][0] for n in names), files["good"], "--json")
    assert proc.returncode == 0, proc.stderr
    front, invalid, expired, long_term, form = (json.loads(line) for line in proc.stdout.splitlines())
    who = cards["front"][1]
    assert set(front) == FRONT_KEYS and front["class"] == "id_card_front"
    assert front["id_number_masked"] == mask_id_number(who.number) and front["id_number_valid"] is True
    assert front["verdict"] == "accepted" and front["reasons"] == []
    assert invalid["class"] == "id_card_front" and invalid["id_number_valid"] is False
    assert invalid["verdict"] == "rejected" and "id_number_invalid" in invalid["reasons"]
    assert set(expired) == BACK_KEYS and expired["class"] == "id_card_back"
    assert expired["valid_until"] == cards["expired"][1].valid_until.isoformat()  # type: ignore[union-attr]
    assert expired["expired"] is True and expired["verdict"] == "rejected" and "expired" in expired["reasons"]
    assert long_term["valid_until"] == "长期" and long_term["expired"] is False and long_term["verdict"] == "accepted"
    assert set(form) == CONTRACT_KEYS and form["class"] == "page"
    for _, person in cards.values():  # nothing personal on stdout without --reveal
        assert person.number not in proc.stdout and person.name not in proc.stdout
        assert person.number[6:14] not in proc.stdout


def test_reveal_prints_the_full_number_name_and_birth_date(cards: dict[str, tuple[Path, sd.Identity]]) -> None:
    path, who = cards["front"]
    proc = run("check", path, cards["expired"][0], "--json", "--reveal")
    assert proc.returncode == 0, proc.stderr
    front, back = (json.loads(line) for line in proc.stdout.splitlines())
    assert set(front) == FRONT_KEYS | REVEALED and set(back) == BACK_KEYS | REVEALED
    assert (front["id_number"], front["name"], front["sex"], front["birth_date"]) == (
        who.number, who.name, who.sex, who.birth.isoformat())
    assert front["id_number_masked"] == mask_id_number(who.number)
    assert back["issuer"] == cards["expired"][1].issuer and back["id_number"] is None
    human = run("check", path, "--reveal")
    assert human.returncode == 0 and who.number in human.stdout and who.name in human.stdout
    masked = run("check", path)
    assert masked.returncode == 0 and mask_id_number(who.number) in masked.stdout
    assert who.number not in masked.stdout and "class id_card_front" in masked.stdout


def test_expect_rejects_another_class_as_wrong_kind(
        cards: dict[str, tuple[Path, sd.Identity]], files: dict[str, Path]) -> None:
    front = cards["front"][0]
    proc = run("check", files["good"], front, files["card"], "--json", "--expect", "id_card_front")
    assert proc.returncode == 0, proc.stderr
    form, card, old = (json.loads(line) for line in proc.stdout.splitlines())
    assert form["class"] == "page" and form["verdict"] == "rejected" and form["reasons"] == ["wrong_kind"]
    assert card["verdict"] == "accepted" and card["reasons"] == []
    assert old["class"] == "unknown" and "wrong_kind" not in old["reasons"]  # unknown: the specialist decides
    proc = run("check", front, files["good"], "--json", "--expect", "application_form")
    card, form = (json.loads(line) for line in proc.stdout.splitlines())
    assert card["reasons"] == ["wrong_kind"] and form["verdict"] == "accepted"
    proc = run("check", front, "--json", "--expect", "page")  # a class name will do too
    assert json.loads(proc.stdout)["reasons"] == ["wrong_kind"]
    bad = run("check", front, "--expect", "id_card_frnt")
    assert bad.returncode == 2 and "id_card_front" in bad.stderr and not bad.stdout
