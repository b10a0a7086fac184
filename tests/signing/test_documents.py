"""The documents a citizen signs (pure): built from the catalogue, hashed over their canonical text; the
PDF drawn from them is deterministic and wraps Chinese and English as it should."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from window_server.domain.catalogue import Catalogue
from window_server.domain.signing import DOCS
from window_server.signing import documents
from window_server.signing.render import Stamp, font, render_pdf, wrap

SID = "RW20261203000001"


def test_each_document_is_built_from_the_catalogue_in_both_languages(catalogue: Catalogue) -> None:
    m = catalogue.matter("js-320600-housing-fund-transfer")
    for doc in DOCS:
        d = documents.build(doc, m, SID)
        assert set(d) == {"doc", "matter", "sid", "version", "title", "paragraphs"}
        assert m.name_zh in d["title"]["zh"] and m.name_en in d["title"]["en"]
        text_zh = "\n".join(p["zh"] for p in d["paragraphs"])
        text_en = "\n".join(p["en"] for p in d["paragraphs"])
        assert SID in text_zh and m.department in text_zh and f"{m.promised_days} 个工作日" in text_zh
        assert all(x.name_zh in text_zh and x.name_en in text_en for x in m.materials)
        assert "中文文本为准" in text_zh and "binding" in text_en
        assert all(p["zh"] and p["en"] for p in d["paragraphs"])


def test_the_hash_is_over_the_canonical_text_and_follows_every_word(catalogue: Catalogue) -> None:
    m = catalogue.matter("js-320600-housing-fund-transfer")
    d = documents.build("commitment", m, SID)
    raw = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert documents.digest(d) == hashlib.sha256(raw).hexdigest()
    assert documents.digest(documents.build("commitment", m, SID)) == documents.digest(d)
    assert documents.digest(documents.build("commitment", m, "RW20261203000002")) != documents.digest(d)
    assert documents.digest(documents.build("application_form", m, SID)) != documents.digest(d)
    same_day = documents.build("commitment", replace(m, promised_days=0), SID)
    assert any("当场办结" in p["zh"] for p in same_day["paragraphs"])


def test_lines_wrap_within_the_page_english_at_spaces() -> None:
    f = font(27)
    lines = wrap("The Chinese text of this letter is binding; the English translation is for reference only. " * 3,
                 f, 600)
    assert len(lines) > 3 and all(f.getlength(line) <= 600 for line in lines)
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in lines)
    words = "".join(lines).replace(" ", "")
    assert words == ("The Chinese text of this letter is binding; the English translation is for reference only. "
                     * 3).replace(" ", "")
    zh = wrap("本人已经知晓上述告知的全部内容；本人提交的材料真实、合法、有效。" * 4, font(34), 500)
    assert all(font(34).getlength(line) <= 500 for line in zh) and "".join(zh).count("本人") == 8


def test_the_same_strokes_document_and_stamp_give_the_same_pdf(catalogue: Catalogue) -> None:
    d = documents.build("application_form", catalogue.matter("js-320600-housing-fund-transfer"), SID)
    strokes = {"width": 900, "height": 300, "strokes": [[[10.0, 10.0, 0], [200.0, 150.0, 50]], [[500.0, 200.0, 90]]]}
    stamp = Stamp(SID, 1_796_000_000_000, "Asia/Shanghai", documents.digest(d), "q0123456789abcdef", 0)
    assert stamp.local_time().endswith("UTC+08:00 (Asia/Shanghai)")
    a, b = render_pdf(d, strokes, stamp), render_pdf(d, strokes, stamp)
    assert a == b and a.startswith(b"%PDF")
    moved = {**strokes, "strokes": [[[11.0, 10.0, 0], [200.0, 150.0, 50]], [[500.0, 200.0, 90]]]}
    assert render_pdf(d, moved, stamp) != a
    assert render_pdf(d, strokes, replace(stamp, at_ms=stamp.at_ms + 1000)) != a
