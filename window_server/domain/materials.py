"""Materials (材料): kinds, cameras, verdicts, plain-words advice for the citizen, who may see what.

Pure: no I/O, no clock, no randomness. The HTTP routes, the socket.io handlers and the Redis
functions call these rules; the advice table is the one place the citizen's words live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from window_server.domain.auth import BOOTH_ROLES, Principal, can_manage_centre, can_serve
from window_server.domain.catalogue import Matter
from window_server.domain.errors import InvalidInput
from window_server.domain.idcard import CLASS_NAMES
from window_server.domain.session import ENDED_STATES, HELD_STATES

CAMERAS: tuple[str, ...] = ("main", "aux", "upload")
"""Where a still came from: the 高拍仪's main head, its aux (face) head, or a file upload."""

CAPTURE_CAMERAS: tuple[str, ...] = ("main", "aux")
"""Cameras a specialist may ask the booth's device agent to capture with."""

VARIANTS: tuple[str, ...] = ("original", "corrected", "thumb", "masked")
"""What is stored of each material: the still as sent, the page deskewed and cropped, a thumbnail,
and (for a still with an ID number or a portrait) the corrected page with those blacked out."""

VERDICTS: tuple[str, ...] = ("accepted", "rejected")

VERDICT_REASONS: tuple[str, ...] = (
    "illegible", "cut_off", "glare", "wrong_document", "expired", "blurred", "other",
)
"""Reason codes a specialist picks when judging a material (free text is allowed too)."""

AUTO_REASONS: tuple[str, ...] = ("no_document", "cut_off", "too_small", "blur", "glare", "too_dark")
"""The automatic check's reason codes (``window_server.documents.quality.Reason``; a test pins it)."""

RECOGNITION_REASONS: tuple[str, ...] = ("wrong_kind", "id_number_invalid", "expired", "sides_mismatch")
"""What the recognition that follows the quality check may add: another class than the material
asks for, an ID number whose check character (or birth date) is wrong, an emblem side past its
validity, an emblem side that cannot belong to the photo side captured before it."""

PAGE_KINDS: frozenset[str] = frozenset({
    "application_form", "power_of_attorney", "approval_document", "articles_amendment", "articles_of_association",
    "business_contract", "change_proof", "contribution_certificate", "expense_list", "food_safety_rules",
    "food_safety_staff", "hardship_proof", "investors_undertaking", "liquidation_report", "loss_statement",
    "officer_appointment", "premises_layout", "premises_proof", "purchase_contract", "referral", "resolution",
    "shareholder_certificate", "tax_clearance", "termination_proof", "discharge_summary", "residence_proof",
    "relationship_proof", "death_certificate",
})
"""Kinds that are paper (forms, letters, contracts, statements): a card or a licence is not one."""

EXPECTED_CLASS: dict[str, str] = {
    "id_card_front": "id_card_front", "id_card_back": "id_card_back", "household_register": "household_register",
    "business_licence": "business_licence", "head_office_licence": "business_licence", "bank_card": "bank_card",
    **{k: "page" for k in PAGE_KINDS},
}
"""The class a still of each material kind must be. Kinds not listed (a photo, a booklet such as a
marriage certificate, a driving licence, ``other``) have no expectation: the specialist decides."""


def expected_class(kind: str) -> str | None:
    """The class a still filed as ``kind`` must be recognised as; None when any will do."""
    return EXPECTED_CLASS.get(kind)


def is_wrong_kind(kind: str, recognised: str) -> bool:
    """True when a still recognised as ``recognised`` cannot be the ``kind`` it was filed as.
    ``unknown`` never is: the specialist decides."""
    want = expected_class(kind)
    return want is not None and recognised not in (want, "unknown")

OTHER_KIND = "other"
"""A material kind every matter accepts: something the catalogue does not list."""

MERGED_KIND = "id_card_merged"
"""The kind of the page with both sides of an ID card (身份证正反面合并), made on the server."""

MAX_REASON_TEXT = 200
MAX_KIND = 64
MAX_REQUEST_ID = 64
MATERIAL_ID = re.compile(r"m[0-9a-f]{16}")
REQUEST_ID = re.compile(r"c[0-9a-f]{16}")
_KIND = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Advice:
    """What the booth shows the citizen, in Chinese first and in English."""

    zh: str
    en: str


CAPTURED = "captured"
ACCEPTED = "accepted"

ADVICE: dict[str, Advice] = {
    # the automatic check's reasons, shown with material_added
    "no_document": Advice("没有找到材料，请将材料平放在拍摄区内", "No document was found. Please lay it flat inside the camera area."),
    "cut_off": Advice("请将证件完整放入框内", "Please place the whole document inside the frame."),
    "too_small": Advice("材料太小，请将材料放在拍摄区中央", "The document is too small in the picture. Please place it in the middle of the camera area."),
    "blur": Advice("照片模糊，请保持材料不动后重新拍摄", "The picture is blurred. Please hold the document still and capture it again."),
    "glare": Advice("请避开反光，稍微倾斜证件", "Please avoid the glare: tilt the document slightly."),
    "too_dark": Advice("光线太暗，请打开补光灯或移到亮处", "It is too dark. Please switch on the light or move to a brighter spot."),
    # the recognition's reasons (wrong_kind has words of its own: advice_wrong_kind)
    "wrong_kind": Advice("这不是所需的材料，请按提示放入正确的材料", "This is not the document needed. Please place the one asked for."),
    "id_number_invalid": Advice("身份证号码无法核验，请将证件放平、擦净后重新拍摄", "The ID number could not be verified. Please lay the card flat, wipe it and capture it again."),
    "sides_mismatch": Advice("身份证正反面不是同一张证件，请放同一张身份证的两面", "The two sides are not from the same ID card. Please place both sides of one card."),
    # the specialist's reasons, shown with material_verdict
    "illegible": Advice("内容看不清，请将材料放平、保持不动后重新拍摄", "The text cannot be read. Please lay the document flat, hold still and capture it again."),
    "wrong_document": Advice("这不是所需的材料，请按提示放入正确的材料", "This is not the document needed. Please place the one asked for."),
    "expired": Advice("证件已过有效期，请提供有效的证件", "The document has expired. Please provide a valid one."),
    "blurred": Advice("照片模糊，请保持材料不动后重新拍摄", "The picture is blurred. Please hold the document still and capture it again."),
    "other": Advice("请按工作人员的提示重新拍摄", "Please follow the specialist's instructions and capture it again."),
    # outcomes
    CAPTURED: Advice("已拍摄，请稍候，工作人员正在核验", "Captured. Please wait while the specialist checks it."),
    ACCEPTED: Advice("材料已通过核验，谢谢", "This document has been accepted. Thank you."),
}


def advice_for_check(verdict: str, reasons: tuple[str, ...] | list[str]) -> Advice:
    """The citizen's words after the automatic check: wait, or what to fix (each reason once)."""
    if verdict == "accepted" or not reasons:
        return ADVICE[CAPTURED]
    picked = [ADVICE.get(r, ADVICE["other"]) for r in dict.fromkeys(reasons)]
    return Advice("；".join(a.zh for a in picked), " ".join(a.en for a in picked))


def advice_wrong_kind(kind: str, name_zh: str, name_en: str) -> Advice:
    """What the booth says when a still is another document than the one asked for, in the
    material's own words: 这不是身份证人像面，请放身份证人像面."""
    want = expected_class(kind)
    if want is not None and want != "page":
        name_zh, name_en = CLASS_NAMES[want]
    return Advice(f"这不是{name_zh}，请放{name_zh}", f"This is not {name_en}. Please place {name_en}.")


def advice_for_verdict(verdict: str, reason: str) -> Advice:
    """The citizen's words after the specialist's verdict; free-text reasons get the general advice."""
    if verdict == "accepted":
        return ADVICE[ACCEPTED]
    return ADVICE.get(reason, ADVICE["other"]) if reason in VERDICT_REASONS else ADVICE["other"]


# --- validation at the door -----------------------------------------------------------------


def allowed_kinds(matter: Matter) -> frozenset[str]:
    """The kinds a still of this matter's session may have: the catalogue's, plus ``other``."""
    return frozenset({m.kind for m in matter.materials} | {OTHER_KIND})


def check_kind(matter: Matter, kind: object, field: str = "kind") -> str:
    """Return ``kind`` if the matter asks for it (or it is ``other``); raise InvalidInput."""
    if not isinstance(kind, str) or len(kind) > MAX_KIND or not _KIND.fullmatch(kind):
        raise InvalidInput("kind must be a material kind such as id_card_front", field=field)
    if kind not in allowed_kinds(matter):
        listed = ", ".join(sorted(allowed_kinds(matter)))
        raise InvalidInput(f'matter {matter.code} has no material "{kind}"; one of: {listed}', field=field)
    return kind


def check_camera(camera: object, allowed: tuple[str, ...] = CAMERAS, field: str = "camera") -> str:
    """Return ``camera`` if it is one of ``allowed``; raise InvalidInput."""
    if camera not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field)
    assert isinstance(camera, str)
    return camera


def check_verdict(verdict: object, reason: object) -> tuple[str, str]:
    """Return (verdict, reason): a reason code from ``VERDICT_REASONS`` or free text of ≤ 200."""
    if verdict not in VERDICTS:
        raise InvalidInput("verdict must be accepted or rejected", field="verdict")
    assert isinstance(verdict, str)
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise InvalidInput("reason must be text", field="reason")
    reason = reason.strip()
    if len(reason) > MAX_REASON_TEXT:
        raise InvalidInput(f"reason is longer than {MAX_REASON_TEXT} characters", field="reason")
    if any(ord(ch) < 32 for ch in reason):
        raise InvalidInput("reason may not contain control characters", field="reason")
    return verdict, reason


def is_material_id(value: object) -> bool:
    return isinstance(value, str) and MATERIAL_ID.fullmatch(value) is not None


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


# --- who may do what --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionParties:
    """The facts of one session that decide who may add and see its materials."""

    sid: str
    state: str
    booth: str
    agent: str
    """The specialist holding it now ("" when none)."""
    served: tuple[str, ...]
    """Every specialist who held it (accept or transfer accept), in order."""
    intake_centre: str
    serving_centres: tuple[str, ...]
    """The centres of those specialists."""
    guests: tuple[str, ...] = ()
    """Usernames of its guests joined now (issue 19): supervisors and reviewers, who may look (read only)."""


HELD = HELD_STATES  # a specialist holds the session: materials may be added and judged


def is_booth_side(principal: Principal) -> bool:
    return principal.role in BOOTH_ROLES


def may_add(principal: Principal, parties: SessionParties) -> bool:
    """The session's booth (its device agent or kiosk) or the specialist holding it."""
    if is_booth_side(principal):
        return principal.subject == parties.booth
    return can_serve(principal) and parties.agent != "" and principal.subject == parties.agent


def may_view(principal: Principal, parties: SessionParties) -> bool:
    """Its booth while the session is open; its specialist now or any who served it; a guest joined to
    it now (issue 19); managers of its intake or a serving centre.

    A booth is a public place: the next citizen at it must not reach the previous one's stills,
    so its token opens only the session in progress, never one that has ended.
    """
    if is_booth_side(principal):
        return principal.subject == parties.booth and parties.state not in ENDED_STATES
    if can_serve(principal) and (principal.subject == parties.agent or principal.subject in parties.served):
        return True
    if principal.subject in parties.guests and parties.state in HELD_STATES:  # a joined guest (issue 19)
        return True
    centres = (parties.intake_centre, *parties.serving_centres)
    return any(can_manage_centre(principal, c) for c in centres if c)


def viewer_tag(principal: Principal) -> str:
    """How a principal is named in the event log: ``booth:<id>`` or the username."""
    return f"booth:{principal.subject}" if is_booth_side(principal) else principal.subject


def party_role(principal: Principal) -> str:
    """The uploader's side as the Redis function checks it: ``booth`` or ``agent``."""
    return "booth" if is_booth_side(principal) else "agent"

