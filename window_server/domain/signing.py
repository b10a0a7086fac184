"""Signing on the kiosk (签字): what may be signed, who may ask and sign, and the strokes' rules.

Pure: no I/O, no clock. A specialist asks the booth to sign one of ``DOCS`` (the 告知承诺书 or
the 申请表 of the session's matter); the citizen signs with a finger on the kiosk's pad, which
sends the strokes: ``{request_id, strokes: [[[x, y, t_ms], …], …], width, height}``, x and y in
the pad's CSS pixels (0..width, 0..height), t_ms the milliseconds since the first touch, never
decreasing across the whole signature. ``check_signature`` validates that shape strictly; the
server draws the signature from it, so what is stored is what is drawn.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from window_server.domain.auth import Principal
from window_server.domain.errors import InvalidInput
from window_server.domain.materials import SessionParties, is_booth_side, may_view
from window_server.domain.session import ENDED_STATES, HELD_STATES

DOCS: tuple[str, ...] = ("commitment", "application_form")
"""What a specialist may ask the citizen to sign: the 告知承诺书 and the 申请表 of the matter."""

REQUEST_STATES: tuple[str, ...] = ("pending", "signed", "declined")

MIN_PAD, MAX_PAD = 50, 4096  # the pad's CSS size, each side
MAX_STROKES = 200
MAX_POINTS_PER_STROKE = 4000
MAX_POINTS = 20_000
MAX_T_MS = 3_600_000  # an hour from the first touch
MAX_BODY_BYTES = 1_000_000  # 20,000 points as JSON fit well below this
MAX_REQUEST_ID = 32
_REQUEST_ID = re.compile(r"q[0-9a-f]{16}")
_SIGNATURE_ID = re.compile(r"g[0-9a-f]{16}")
BODY_FIELDS = frozenset({"request_id", "strokes", "width", "height"})


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


def is_signature_id(value: object) -> bool:
    return isinstance(value, str) and _SIGNATURE_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Signature:
    """A validated signature: the pad's size and its strokes (points rounded to 0.1 px, whole ms)."""

    request_id: str
    width: int
    height: int
    strokes: tuple[tuple[tuple[float, float, int], ...], ...]

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.strokes)

    @property
    def duration_ms(self) -> int:
        return self.strokes[-1][-1][2] - self.strokes[0][0][2] if self.strokes else 0

    def as_json(self) -> dict[str, Any]:
        """The stored form (``strokes.json``): what the PDF's signature is drawn from."""
        return {"request_id": self.request_id, "width": self.width, "height": self.height,
                "strokes": [[[x, y, t] for x, y, t in s] for s in self.strokes]}


def _whole(body: dict[str, Any], name: str, lo: int, hi: int) -> int:
    v = body.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise InvalidInput(f"{name} must be a whole number from {lo} to {hi}", field=name)
    return v


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_signature(body: Any) -> Signature:
    """Validate an upload's JSON body (see the module's doc); raise InvalidInput with a stable code."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object {request_id, strokes, width, height}")
    if extra := sorted(set(body) - BODY_FIELDS):
        raise InvalidInput(f"unknown field {extra[0][:32]!r}", field=str(extra[0])[:32])
    request_id = body.get("request_id")
    if not is_request_id(request_id):
        raise InvalidInput("request_id must be the sign request's id (q + 16 hex digits)", field="request_id")
    assert isinstance(request_id, str)
    width, height = _whole(body, "width", MIN_PAD, MAX_PAD), _whole(body, "height", MIN_PAD, MAX_PAD)
    strokes = body.get("strokes")
    if not isinstance(strokes, list):
        raise InvalidInput("strokes must be a list of strokes", code="invalid_strokes", field="strokes")
    if not strokes or not any(isinstance(s, list) and s for s in strokes):
        raise InvalidInput("the signature is empty", code="empty_signature", field="strokes")
    if len(strokes) > MAX_STROKES:
        raise InvalidInput(f"more than {MAX_STROKES} strokes", code="invalid_strokes", field="strokes")
    out: list[tuple[tuple[float, float, int], ...]] = []
    total, last_t = 0, 0
    for i, stroke in enumerate(strokes):
        where = f"stroke {i}"
        if not isinstance(stroke, list) or not stroke:
            raise InvalidInput(f"{where} must be a non-empty list of [x, y, t_ms] points", code="invalid_strokes",
                               field="strokes")
        if len(stroke) > MAX_POINTS_PER_STROKE:
            raise InvalidInput(f"{where} has more than {MAX_POINTS_PER_STROKE} points", code="invalid_strokes",
                               field="strokes")
        total += len(stroke)
        if total > MAX_POINTS:
            raise InvalidInput(f"more than {MAX_POINTS} points", code="invalid_strokes", field="strokes")
        points: list[tuple[float, float, int]] = []
        for j, p in enumerate(stroke):
            if not isinstance(p, list) or len(p) != 3 or not all(_number(v) for v in p):
                raise InvalidInput(f"{where}, point {j} must be [x, y, t_ms] (numbers)", code="invalid_strokes",
                                   field="strokes")
            x, y, t = p
            if not (0 <= x <= width and 0 <= y <= height):
                raise InvalidInput(f"{where}, point {j} lies outside the {width}×{height} pad", code="invalid_strokes",
                                   field="strokes")
            if not isinstance(t, int) or not 0 <= t <= MAX_T_MS:
                raise InvalidInput(f"{where}, point {j}: t_ms must be whole milliseconds from 0 to {MAX_T_MS}",
                                   code="invalid_strokes", field="strokes")
            if t < last_t:
                raise InvalidInput(f"{where}, point {j}: t_ms goes back in time", code="invalid_strokes",
                                   field="strokes")
            last_t = t
            points.append((round(float(x), 1), round(float(y), 1), t))
        out.append(tuple(points))
    return Signature(request_id, width, height, tuple(out))


# --- who may do what --------------------------------------------------------------------------


def may_request(principal: Principal, parties: SessionParties) -> bool:
    """The specialist holding the session, while it is held."""
    return (not is_booth_side(principal) and parties.agent != "" and principal.subject == parties.agent
            and parties.state in HELD_STATES)


def may_sign(principal: Principal, parties: SessionParties) -> bool:
    """The session's own booth (its kiosk), while a specialist holds the session."""
    return is_booth_side(principal) and principal.subject == parties.booth and parties.state in HELD_STATES


def may_see(principal: Principal, parties: SessionParties) -> bool:
    """As a session's stills: its booth while it is open (never after it ended), its specialists, the
    managers of its centres."""
    if is_booth_side(principal):
        return principal.subject == parties.booth and parties.state not in ENDED_STATES
    return may_view(principal, parties)
