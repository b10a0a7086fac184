"""docs/documents.md stays true: every reason code, threshold and contract key is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from window_server.documents.pipeline import CheckResult
from window_server.documents.quality import QualityThresholds, Reason
from window_server.documents.sniff import CorruptImage, ImageTooLarge, UnsupportedImage

DOC = Path(__file__).resolve().parents[2] / "docs" / "documents.md"


def test_reason_and_error_codes_are_documented() -> None:
    text = DOC.read_text()
    codes = [r.value for r in Reason] + [UnsupportedImage.code, ImageTooLarge.code, CorruptImage.code]
    assert not [c for c in codes if f"`{c}`" not in text]


def test_thresholds_and_defaults_are_documented() -> None:
    text = DOC.read_text()
    for f in dataclasses.fields(QualityThresholds):
        assert f"| `{f.name}` | `{f.default}` |" in text, f.name


def test_cli_json_keys_are_documented() -> None:
    text = DOC.read_text()
    keys = ["path", *CheckResult(False, None, "rejected", (), 0, 0, 0, 0, 0).to_json()]
    assert not [k for k in keys if f'"{k}"' not in text]
