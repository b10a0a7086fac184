"""Command line for the document pipeline; third parties call this, so its output is a contract.

    python -m window_server.documents check IMAGE [IMAGE ...] [--json]
    python -m window_server.documents correct IMAGE --out OUT.jpg
    python -m window_server.documents pdf IMAGE [IMAGE ...] --out OUT.pdf
    python -m window_server.documents merge-id FRONT BACK --out OUT.jpg [--crop]

``check --json`` prints one JSON object per image per line, in argument order (see
docs/documents.md). An image that cannot be read gets a line
``{"path": ..., "error": {"code": ..., "message": ...}}`` and the exit status is 2; otherwise 0,
whatever the verdicts. ``correct`` exits 1 when no page is found; every command exits 2 on
unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from window_server.documents import compose, pipeline
from window_server.documents.pipeline import CheckResult, DocumentNotFound
from window_server.documents.quality import QualityThresholds
from window_server.documents.sniff import DEFAULT_MAX_MEGAPIXELS
from window_server.domain.errors import RemoteWindowError

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
    check = sub.add_parser("check", help="judge stills: page found, corners, verdict, reasons, metrics")
    check.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    check.add_argument("--json", action="store_true", help="one JSON object per image per line")
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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Unreadable("unreadable_file", f"cannot read {path}: {exc.strerror or exc}") from exc


def _check(args: argparse.Namespace) -> int:
    thresholds = QualityThresholds()
    status = EXIT_OK
    for path in args.images:
        try:
            result = pipeline.check_image(_read(path), thresholds, max_megapixels=args.max_megapixels)
        except _Unreadable as exc:
            status = EXIT_UNREADABLE
            _report_unreadable(path, exc.code, exc.message, as_json=args.json)
        except RemoteWindowError as exc:
            status = EXIT_UNREADABLE
            _report_unreadable(path, exc.code, exc.message, as_json=args.json)
        else:
            print(_json_line(path, result) if args.json else _human_line(path, result), flush=True)
    return status


def _report_unreadable(path: Path, code: str, message: str, *, as_json: bool) -> None:
    if as_json:
        line = {"path": str(path), "error": {"code": code, "message": message}}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        print(f"{path}: error {code}: {message}", file=sys.stderr, flush=True)


def _json_line(path: Path, result: CheckResult) -> str:
    body: dict[str, Any] = {"path": str(path), **result.to_json()}
    return json.dumps(body, ensure_ascii=False)


def _human_line(path: Path, r: CheckResult) -> str:
    why = f" ({', '.join(r.reasons)})" if r.reasons else ""
    page = "page found" if r.document_found else "no page"
    return (
        f"{path}: {r.verdict}{why}; {page}, coverage {r.coverage:.0%}, sharpness {r.sharpness:.2f}, "
        f"glare {r.glare:.1%}, brightness {r.brightness:.2f}; {r.ms:.0f} ms"
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
