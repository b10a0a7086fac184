"""The text beside the video (issue 18): who may write, how long, and the citizen's quick replies.

A citizen who cannot hear well reads the specialist's words on the kiosk and answers with a
quick-reply chip (a stable key, its words in the citizen's language) or by typing. Every
message is part of the session's record and of its evidence (``notes.json``); the words are
masked at the door like all free text (``signaling/protocol.py``: ``free_text=True``).
"""

from __future__ import annotations

from typing import Final

#: Who wrote a message: the specialist holding the session, or its booth.
CHAT_FROM: Final = ("agent", "booth")
#: The longest message, in characters.
MAX_CHAT: Final = 500
#: The most messages one session keeps (a long session's chat stays well under it).
MAX_CHAT_MESSAGES: Final = 500

#: The citizen's quick replies: key -> (Chinese, English). The key is what the specialist's
#: console shows beside the Chinese words, whatever language the citizen reads.
QUICK_REPLIES: Final[dict[str, tuple[str, str]]] = {
    "cant_hear": ("听不清", "I can't hear you"),
    "say_again": ("请再说一遍", "Please say it again"),
    "slower": ("请说慢一点", "Slower, please"),
    "ok": ("好的", "OK"),
    "no_material": ("我没有这个材料", "I don't have it"),
    "wait": ("请稍等", "One moment, please"),
}
QUICK_KEYS: Final = tuple(QUICK_REPLIES)


def quick_text(key: str, lang: str) -> str:
    """The words of a quick reply in ``lang`` (Chinese unless ``en``); '' for an unknown key."""
    words = QUICK_REPLIES.get(key)
    if words is None:
        return ""
    return words[1] if lang == "en" else words[0]
