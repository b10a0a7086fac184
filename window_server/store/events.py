"""Entries of the event streams (``rw:events`` and each session's ``rw:s:<sid>:ev``).

An entry holds one field, ``e``: the event as a JSON object. One field is one argument for
Redis to store and to log in its AOF, where a field per fact was two: it halves what the
queue's functions spend on the audit trail. Readers get the event as before, a dict of
strings; entries written before this format (a field per fact) read the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

FIELD = "e"


def _text(value: Any) -> str:
    """A value as the string it was stored as in the field-per-fact format."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def read_event(fields: Mapping[str, str] | None) -> dict[str, str]:
    """The event of one stream entry's fields ({} for a deleted entry)."""
    if not fields:
        return {}
    raw = fields.get(FIELD)
    if raw is None or len(fields) != 1:
        return dict(fields)
    return {k: _text(v) for k, v in json.loads(raw).items()}


def read_entries(
    reply: Iterable[tuple[str, Mapping[str, str] | None]],
) -> list[tuple[str, dict[str, str]]]:
    """(id, event) of each entry of an XRANGE / XREADGROUP / XAUTOCLAIM reply."""
    return [(entry_id, read_event(fields)) for entry_id, fields in reply]
