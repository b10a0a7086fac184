"""How a session ends for the citizen: what is still missing and how to supply it (需补正), where
the result is sent (结果寄递), and the public status page's plain words (pure).

The status page (``GET /r/{code}``) shows the matter, the state and the next step and nothing
personal: ``public_status`` builds it from the session's fields, reading only the ones listed in
``PUBLIC_FIELDS`` (a test checks the page for names, numbers, the address and the ticket).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, Final

from window_server.domain.catalogue import Material, Matter, ServiceMode
from window_server.domain.errors import InvalidInput, NotFound
from window_server.domain.privacy import mask_address, mask_name, mask_phone
from window_server.domain.session import ENDED_STATES, HELD_STATES, Outcome, State

MAX_RECIPIENT: Final = 40
MAX_PHONE: Final = 24
MAX_ADDRESS: Final = 200
MAX_MISSING: Final = 32
#: The status code's alphabet and length bounds (``secrets.token_urlsafe(16)`` gives 22 characters).
STATUS_CODE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: A phone number as typed: digits, spaces, hyphens, an optional leading + and parentheses; 7-15 digits.
_PHONE = re.compile(r"\+?[\d\s()（）-]{7,24}")


class How(StrEnum):
    """How a missing material reaches the department."""

    POST = "post"  # 邮寄
    UPLOAD = "upload"  # 网上上传
    VISIT = "visit"  # 回来现场补交


HOWS: Final = tuple(h.value for h in How)


def allowed_hows(matter: Matter, material: Material) -> tuple[How, ...]:
    """Ways this material may be supplied, the default first: an original must arrive as paper
    (brought back to the hall, or posted); a copy may be uploaded when the matter is done fully
    online (全程网办), else posted or brought."""
    if material.original:
        return (How.VISIT, How.POST)
    if not matter.supports(ServiceMode.ONLINE_FULL):
        return (How.POST, How.VISIT)
    return (How.UPLOAD, How.POST, How.VISIT)


def default_how(matter: Matter, material: Material) -> How:
    """The sensible default: an original is brought back, a copy uploaded (online matters) or posted."""
    return allowed_hows(matter, material)[0]


def missing_items(matter: Matter, raw: Any) -> list[dict[str, str]]:
    """The 补正清单 as ``[{kind, how}]``: each item a kind (its default how) or ``{kind, how}``.

    Every kind must be one of the matter's materials, each at most once, and ``how`` one its
    material allows; anything else is ``invalid_input`` (field ``missing``).
    """
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_MISSING:
        raise InvalidInput(f"missing must list at most {MAX_MISSING} materials", field="missing")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in raw:
        kind, how = (item, None) if isinstance(item, str) else (
            (item.get("kind"), item.get("how")) if isinstance(item, dict) else (None, None))
        if not isinstance(kind, str) or (how is not None and not isinstance(how, str)):
            raise InvalidInput("missing: each item is a material kind or {kind, how}", field="missing")
        try:
            material = matter.material(kind)
        except NotFound:
            raise InvalidInput(f"missing: matter {matter.code} has no material {kind[:64]!r}",
                               field="missing") from None
        if kind in seen:
            raise InvalidInput(f"missing: {kind} is listed twice", field="missing")
        seen.add(kind)
        allowed = allowed_hows(matter, material)
        if how is None or how == "":
            chosen = default_how(matter, material)
        elif how in HOWS and How(how) in allowed:
            chosen = How(how)
        else:
            raise InvalidInput(f"missing: {kind} may be supplied by {', '.join(h.value for h in allowed)}",
                               field="missing")
        out.append({"kind": kind, "how": chosen.value})
    return out


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is required", field=name)
    text = " ".join(value.split())
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", field=name)
    return text


def delivery(recipient: Any, phone: Any, address: Any) -> dict[str, str]:
    """The delivery address as typed, checked: a recipient, a phone number, an address."""
    who = _text(recipient, "recipient", MAX_RECIPIENT)
    tel = _text(phone, "phone", MAX_PHONE)
    digits = sum(c.isdecimal() for c in tel)
    if not _PHONE.fullmatch(tel) or not 7 <= digits <= 15:
        raise InvalidInput("phone must be a phone number (7 to 15 digits)", field="phone")
    where = _text(address, "address", MAX_ADDRESS)
    if len(where) < 6:
        raise InvalidInput("address is too short to deliver to", field="address")
    return {"recipient": who, "phone": tel, "address": where}


def masked_delivery(full: dict[str, str]) -> dict[str, str]:
    """What is shown outside the serving specialist's view: ``张*``, ``138****5678``, ``上海市黄浦区****``."""
    return {"recipient": mask_name(full["recipient"]), "phone": mask_phone(full["phone"]),
            "address": mask_address(full["address"])}


# --- the public status page ------------------------------------------------------------------

#: The only session fields the status page reads.
PUBLIC_FIELDS: Final = ("state", "matter", "outcome", "missing", "created", "ended")

_DONE = {State.COMPLETED.value, State.RATED.value}

_STATE_WORDS: Final = {
    "waiting": ("正在排队等候", "Waiting in the queue"),
    "serving": ("正在办理", "Being handled now"),
    "ended": ("办理已结束", "The session has ended"),
    "unfinished": ("没有办完：通话中断或未到场", "Not finished: the call was interrupted or nobody came"),
    "left": ("已放弃排队", "Left the queue"),
}
_OUTCOME_WORDS: Final = {
    Outcome.CONSULTATION.value: ("已解答咨询", "Question answered"),
    Outcome.INTAKE.value: ("材料已收件，等待审批", "Application received, awaiting approval"),
    Outcome.NEEDS_SUPPLEMENT.value: ("需要补正材料", "Some materials are still needed"),
    Outcome.POSTAL_DELIVERY.value: ("已办理，结果寄递", "Done; the result will be posted"),
    Outcome.NOT_ELIGIBLE.value: ("不予受理", "Cannot be handled here"),
    "": ("通话已结束", "The call was ended"),
}
HOW_WORDS: Final = {
    How.POST.value: ("请邮寄到{department}", "Please post it to {department}"),
    How.UPLOAD.value: ("请在网上上传", "Please upload it online"),
    How.VISIT.value: ("请带原件回来现场补交", "Please bring the original back to the hall"),
}
_MODE_WORDS: Final = {
    ServiceMode.ONLINE_FULL.value: ("全程网办", "Fully online"),
    ServiceMode.PROXY_INTAKE.value: ("异地代收代办", "Handled here for the home region"),
    ServiceMode.MULTI_SITE_JOINT.value: ("多地联办", "Handled jointly by several places"),
}


def _pair(words: tuple[str, str]) -> dict[str, str]:
    return {"zh": words[0], "en": words[1]}


def _missing_list(raw: str | None) -> list[dict[str, str]]:
    try:
        items = json.loads(raw or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("kind"), str)] if isinstance(items, list) \
        else []


def how_words(how: str, matter: Matter | None) -> dict[str, str]:
    """How to supply a material, in plain words (posting names the department)."""
    zh, en = HOW_WORDS.get(how, ("", ""))
    return {"zh": zh.format(department=matter.department if matter else "办理部门"),
            "en": en.format(department=matter.department if matter else "the department")}


def public_status(s: dict[str, str], matter: Matter | None) -> dict[str, Any]:
    """The status page's answer for a session's stored fields: no names, numbers, address or ticket."""
    state, outcome = s.get("state", ""), s.get("outcome", "")
    days = matter.promised_days if matter else 0
    if state in HELD_STATES:
        stage, words = "serving", _STATE_WORDS["serving"]
    elif state and state not in ENDED_STATES:
        stage, words = "waiting", _STATE_WORDS["waiting"]
    elif state in _DONE:
        stage, words = "done", _OUTCOME_WORDS.get(outcome, _STATE_WORDS["ended"])
    elif state == State.ABANDONED.value:
        stage, words = "left", _STATE_WORDS["left"]
    else:
        stage, words = "unfinished", _STATE_WORDS["unfinished"]
    steps: list[dict[str, str]] = []
    missing: list[dict[str, Any]] = []
    if stage == "done" and outcome == Outcome.NEEDS_SUPPLEMENT.value:
        for item in _missing_list(s.get("missing")):
            mat = next((m for m in matter.materials if m.kind == item["kind"]), None) if matter else None
            how = item.get("how", "")
            missing.append({"kind": item["kind"], "how": how,
                            "name": {"zh": mat.name_zh, "en": mat.name_en} if mat else {"zh": item["kind"],
                                                                                     "en": item["kind"]},
                            "how_words": how_words(how, matter)})
        steps.append(_pair(("请按下面的清单补交材料，补齐后继续办理。",
                            "Please supply the materials listed below; the matter continues once they arrive.")))
    elif stage == "done" and outcome == Outcome.POSTAL_DELIVERY.value:
        steps.append(_pair(("结果将邮寄给您。", "The result will be posted to you.")))
    elif stage == "done" and outcome == Outcome.INTAKE.value:
        steps.append(_pair((f"等待审批，承诺 {days} 个工作日内办结。",
                            f"Awaiting approval: promised within {days} working days.")))
    elif stage == "done" and outcome == Outcome.NOT_ELIGIBLE.value:
        steps.append(_pair(("这件事不能在这里办理，请咨询大厅工作人员。",
                            "This matter cannot be handled here; please ask the hall's staff.")))
    elif stage == "done" and outcome == Outcome.CONSULTATION.value:
        steps.append(_pair(("无需再做什么。", "Nothing more to do.")))
    elif stage == "done":
        steps.append(_pair(("如还需办理，请重新取号。", "If you still need it, please take a new ticket.")))
    elif stage in ("waiting", "serving"):
        steps.append(_pair(("请在自助终端前继续办理。", "Please continue at the booth.")))
    else:
        steps.append(_pair(("如还需办理，请重新取号。", "If you still need it, please take a new ticket.")))
    return {
        "matter": None if matter is None else {
            "code": matter.code, "name": {"zh": matter.name_zh, "en": matter.name_en},
            "department": matter.department, "promised_days": matter.promised_days,
            "service_modes": [{"mode": m.value, "words": _pair(_MODE_WORDS[m.value])} for m in matter.service_modes],
        },
        "stage": stage,
        "outcome": outcome if stage == "done" else "",
        "state_words": _pair(words),
        "next_steps": steps,
        "missing": missing,
    }
