"""The documents a citizen signs: their text from the catalogue, and their SHA-256.

A document is the 告知承诺书 (``commitment``) or the 申请表 (``application_form``) of the session's
matter, built from a TOML template in ``templates/`` and the catalogue (the matter's names, its
department, its promised days, its materials), in Chinese (binding) and English. Its SHA-256 is
over its canonical text: the UTF-8 bytes of the JSON object ``{doc, matter, sid, version, title:
{zh, en}, paragraphs: [{zh, en}, …]}`` with sorted keys, no spaces and non-ASCII characters as
they are (``evidence.chain.canonical``), so anyone holding ``signatures.json`` can recompute it.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from importlib import resources
from typing import Any

from window_server.domain.catalogue import Matter
from window_server.domain.signing import DOCS
from window_server.evidence.chain import canonical


@functools.cache
def template(doc: str) -> dict[str, Any]:
    """The parsed template of ``doc`` (one of ``DOCS``)."""
    if doc not in DOCS:
        raise ValueError(f"no document {doc!r}")
    text = resources.files("window_server.signing.templates").joinpath(f"{doc}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _days(n: int) -> tuple[str, str]:
    if n <= 0:
        return "当场办结", "done on the spot"
    return f"{n} 个工作日内办结", f"within {n} working day{'s' if n != 1 else ''}"


def build(doc: str, matter: Matter, sid: str) -> dict[str, Any]:
    """The document ``doc`` of ``matter`` for session ``sid``: {doc, matter, sid, version, title, paragraphs}."""
    tpl = template(doc)
    days_zh, days_en = _days(matter.promised_days)
    fill = {"matter_zh": matter.name_zh, "matter_en": matter.name_en, "department": matter.department,
            "days_zh": days_zh, "days_en": days_en, "sid": sid}
    paragraphs: list[dict[str, str]] = []
    for p in tpl["paragraphs"]:
        if p.get("materials"):
            for n, m in enumerate(matter.materials, 1):
                each = {**fill, "n": n, "name_zh": m.name_zh, "name_en": m.name_en,
                        "form_zh": "原件" if m.original else "复印件", "form_en": "original" if m.original else "copy",
                        "need_zh": "必须提交" if m.required else "如有请提交",
                        "need_en": "required" if m.required else "if you have it"}
                paragraphs.append({"zh": p["zh"].format_map(each), "en": p["en"].format_map(each)})
            continue
        paragraphs.append({"zh": p["zh"].format_map(fill), "en": p["en"].format_map(fill)})
    return {"doc": doc, "matter": matter.code, "sid": sid, "version": int(tpl["version"]),
            "title": {"zh": tpl["title_zh"].format_map(fill), "en": tpl["title_en"].format_map(fill)},
            "paragraphs": paragraphs}


def digest(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of the document's canonical text (see the module's doc)."""
    return hashlib.sha256(canonical(document)).hexdigest()
