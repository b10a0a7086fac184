"""Issue 18: what the booth's receipt needs of its session, beside the session view (handlers_booth.py).

``missing``: the 补正清单 stored with the completion, ``[{kind, how}]``; ``delivery``: where the result
is sent, masked (``{address, recipient}``) or None; ``status_code``: the public status page's code.
"""

from __future__ import annotations

import json
from typing import Any


def _json(raw: str | None, default: Any) -> Any:
    try:
        return json.loads(raw) if raw else default
    except ValueError:
        return default


def receipt_view(s: dict[str, str]) -> dict[str, Any]:
    """The receipt's fields of a stored session (masked: the session hash never holds the full address)."""
    missing = _json(s.get("missing"), [])
    delivery = _json(s.get("delivery"), None)
    return {
        "missing": [{"kind": str(m.get("kind", "")), "how": str(m.get("how", ""))}
                    for m in missing if isinstance(m, dict)] if isinstance(missing, list) else [],
        "delivery": {"address": str(delivery.get("address", "")), "recipient": str(delivery.get("recipient", ""))}
        if isinstance(delivery, dict) else None,
        "status_code": s.get("status_code", ""),
    }
