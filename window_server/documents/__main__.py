"""Command line for the document pipeline; third parties call this, so its output is a contract.

    python -m window_server.documents check IMAGE [IMAGE ...] [--json] [--expect KIND] [--reveal]
    python -m window_server.documents correct IMAGE --out OUT.jpg
    python -m window_server.documents pdf IMAGE [IMAGE ...] --out OUT.pdf
    python -m window_server.documents merge-id FRONT BACK --out OUT.jpg [--crop]

``check --json`` prints one JSON object per image per line, in argument order (see
docs/documents.md): the quality check's fields, the recognised ``class`` and what was read of an
ID card, masked; the full ID number (and name, birth date) only with ``--reveal``. With
``--expect KIND`` a still of another class is rejected (``wrong_kind``). An image that cannot be
read gets a line
``{"path": ..., "error": {"code": ..., "message": ...}}`` and the exit status is 2; otherwise 0,
whatever the verdicts. ``correct`` exits 1 when no page is found; every command exits 2 on
unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from window_server.documents import compose, pipeline
from window_server.documents.pipeline import CheckResult, DocumentNotFound
from window_server.documents.quality import QualityThresholds
from window_server.documents.recognise import Recognition
from window_server.documents.sniff import DEFAULT_MAX_MEGAPIXELS
from window_server.domain.errors import RemoteWindowError
from window_server.domain.idcard import CLASSES, UNKNOWN
from window_server.domain.materials import EXPECTED_CLASS

EXIT_OK, EXIT_NO_DOCUMENT, EXIT_UNREADABLE = 0, 1, 2


class _Unreadable(Exception):
    """An input could not be read; carries the stable code for the JSON line."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return the exit status."""
    args = _parser().parse_args(argv)
    handler = {"check": _check, "correct": _correct, "pdf": _pdf, "merge-id": _merge_id}[args.command]
    status: int = handler(args)
    return status


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m window_server.documents",
        description="Check, deskew/crop and compose document-camera stills (JPEG or PNG).",
    )
    p.add_argument(
        "--max-megapixels", type=float, default=DEFAULT_MAX_MEGAPIXELS,
        help=f"refuse images declaring more pixels than this (default {DEFAULT_MAX_MEGAPIXELS:g})",
    )
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check", help="judge stills: page found, corners, verdict, reasons, metrics, recognised class")
    check.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    check.add_argument("--json", action="store_true", help="one JSON object per image per line")
    check.add_argument(
        "--expect", type=_expected, metavar="KIND",
        help="the material kind (e.g. id_card_front, application_form) or class (e.g. page) the "
             "stills must be: another class is rejected with reason wrong_kind")
    check.add_argument(
        "--reveal", action="store_true",
        help="also print the full ID number, name, sex, birth date and the rest read off an ID card "
             "(personal data: by default the number is printed masked and the rest not at all)")
    correct = sub.add_parser("correct", help="write the page deskewed and cropped as JPEG")
    correct.add_argument("image", type=Path, metavar="IMAGE")
    correct.add_argument("--out", type=Path, required=True, metavar="OUT.jpg")
    correct.add_argument("--quality", type=int, default=90, choices=range(1, 101), metavar="1-100")
    pdf = sub.add_parser("pdf", help="write the stills as one PDF, an A4 page each")
    pdf.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    pdf.add_argument("--out", type=Path, required=True, metavar="OUT.pdf")
    merge = sub.add_parser("merge-id", help="write both sides of an ID card on one A4 JPEG page")
    merge.add_argument("front", type=Path, metavar="FRONT")
    merge.add_argument("back", type=Path, metavar="BACK")
    merge.add_argument("--out", type=Path, required=True, metavar="OUT.jpg")
    merge.add_argument("--crop", action="store_true", help="deskew and crop raw stills first")
    return p


def _expected(value: str) -> str:
    """--expect: a material kind that has an expected class, or a class (``unknown`` excepted)."""
    known = sorted(set(EXPECTED_CLASS) | (set(CLASSES) - {UNKNOWN}))
    if value not in known:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of: {', '.join(known)}")
    return value


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Unreadable("unreadable_file", f"cannot read {path}: {exc.strerror or exc}") from exc


def _check(args: argparse.Namespace) -> int:
    thresholds = QualityThresholds()
    today = date.today()
    status = EXIT_OK
    for path in args.images:
        try:
            result, recognition = pipeline.recognise_still(
                _read(path), thresholds, max_megapixels=args.max_megapixels)
        except _Unreadable as exc:
            status = EXIT_UNREADABLE
            _report_unreadable(path, exc.code, exc.message, as_json=args.json)
        except RemoteWindowError as exc:
            status = EXIT_UNREADABLE
            _report_unreadable(path, exc.code, exc.message, as_json=args.json)
        else:
            body = _body(path, result, recognition, expect=args.expect, reveal=args.reveal, today=today)
            print(json.dumps(body, ensure_ascii=False) if args.json else _human_line(body), flush=True)
    return status


def _report_unreadable(path: Path, code: str, message: str, *, as_json: bool) -> None:
    if as_json:
        line = {"path": str(path), "error": {"code": code, "message": message}}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        print(f"{path}: error {code}: {message}", file=sys.stderr, flush=True)


def _body(path: Path, result: CheckResult, recognition: Recognition, *, expect: str | None, reveal: bool,
          today: date) -> dict[str, Any]:
    """One still's JSON object: the check's fields, the recognition's (personal ones on --reveal)."""
    body: dict[str, Any] = {"path": str(path), **result.to_json()}
    public = recognition.public(today)
    body["reasons"] = list(dict.fromkeys([*result.reasons, *recognition.reasons(expect, today)]))
    body["verdict"] = "rejected" if body["reasons"] else "accepted"
    body["ms"] = round(result.ms + public.pop("ms"), 1)
    body.update(public)
    if reveal:
        body.update({k: v for k, v in recognition.private().items() if k not in body})
    return body


def _human_line(b: dict[str, Any]) -> str:
    why = f" ({', '.join(b['reasons'])})" if b["reasons"] else ""
    page = "page found" if b["document_found"] else "no page"
    read = ""
    if b["class"] == "id_card_front":
        number = b.get("id_number") or b["id_number_masked"]
        valid = {True: "valid", False: "INVALID", None: "unread"}[b["id_number_valid"]]
        read = f", number {number or 'unread'} ({valid})"
        if b.get("name"):
            read += f", name {b['name']}, born {b.get('birth_date') or 'unread'}"
    elif b["class"] == "id_card_back":
        expired = " (EXPIRED)" if b["expired"] else ""
        read = f", valid until {b['valid_until'] or 'unread'}{expired}"
    return (
        f"{b['path']}: {b['verdict']}{why}; {page}, coverage {b['coverage']:.0%}, sharpness "
        f"{b['sharpness']:.2f}, glare {b['glare']:.1%}, brightness {b['brightness']:.2f}; "
        f"class {b['class']} ({b['confidence']:.2f}){read}; {b['ms']:.0f} ms"
    )


def _correct(args: argparse.Namespace) -> int:
    try:
        out = pipeline.correct_image(_read(args.image), quality=args.quality, max_megapixels=args.max_megapixels)
    except DocumentNotFound as exc:
        print(f"{args.image}: {exc.message}", file=sys.stderr)
        return EXIT_NO_DOCUMENT
    except (_Unreadable, RemoteWindowError) as exc:
        print(f"{args.image}: error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_UNREADABLE
    args.out.write_bytes(out)
    return EXIT_OK


def _pdf(args: argparse.Namespace) -> int:
    try:
        out = compose.compose_pdf([_read(p) for p in args.images], max_megapixels=args.max_megapixels)
    except _Unreadable as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_UNREADABLE
    except RemoteWindowError as exc:
        index = int(exc.field[7:-1]) if exc.field and exc.field.startswith("images[") else None
        where = f"{args.images[index]}: " if index is not None else ""
        print(f"{where}error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_UNREADABLE
    args.out.write_bytes(out)
    return EXIT_OK


def _merge_id(args: argparse.Namespace) -> int:
    try:
        out = compose.merge_id_card(
            _read(args.front), _read(args.back), crop=args.crop, max_megapixels=args.max_megapixels
        )
    except (_Unreadable, RemoteWindowError) as exc:
        status = EXIT_NO_DOCUMENT if exc.code == "no_document" else EXIT_UNREADABLE
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return status
    args.out.write_bytes(out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
