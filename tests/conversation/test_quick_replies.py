"""The quick replies say the same everywhere: the domain's words, the kiosk's buttons (both
languages) and the console's Chinese labels; the JS constants list the keys in order."""

from __future__ import annotations

import json
import re
from pathlib import Path

from signaling import protocol as P
from window_server.domain.conversation import QUICK_KEYS, QUICK_REPLIES, quick_text

ROOT = Path(__file__).resolve().parents[2]


def kiosk_strings(lang: str) -> dict[str, str]:
    text = (ROOT / "citizen_client/kiosk/static/i18n.js").read_text(encoding="utf-8")
    zh, _, en = text.partition("\n  en: {")
    block = en if lang == "en" else zh
    return dict(re.findall(r'^\s+(quick_\w+): "([^"]*)",$', block, flags=re.M))


def test_the_kiosk_and_the_console_say_the_domains_words() -> None:
    console = json.loads((ROOT / "agent_console/static/strings.json").read_text(encoding="utf-8"))
    for lang in ("zh", "en"):
        assert kiosk_strings(lang) == {f"quick_{k}": quick_text(k, lang) for k in QUICK_KEYS}, lang
        # the specialist reads the citizen's quick replies in Chinese, whatever the console's language
        assert {k: console[lang][f"chat.quick.{k}"] for k in QUICK_KEYS} == {k: v[0] for k, v in QUICK_REPLIES.items()}
    assert P.browser_constants()["quickReplies"] == list(QUICK_KEYS)


def test_the_chips_are_few_and_their_words_short() -> None:
    assert 4 <= len(QUICK_KEYS) <= 8  # one glance, at most two rows on a booth screen
    assert all(len(zh) <= 8 and len(en) <= 24 for zh, en in QUICK_REPLIES.values())
