"""Docs stay true: what operators read matches the code."""

from __future__ import annotations

from pathlib import Path

from window_server.settings import setting_rows, settings_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_operations_doc_lists_every_setting() -> None:
    text = (DOCS / "operations.md").read_text()
    missing = [env for _n, env, _d, _h in setting_rows() if f"`{env}`" not in text]
    assert not missing, f"docs/operations.md lacks settings: {missing}"


def test_operations_doc_carries_the_generated_settings_table() -> None:
    text = (DOCS / "operations.md").read_text()
    block = text.split("<!-- settings:begin (python -m window_server settings) -->\n")[1].split("\n<!-- settings:end -->")[0]
    assert block == settings_markdown(), "regenerate with: python -m window_server settings"
