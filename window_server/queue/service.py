"""The queue's use cases: validate against the catalogue, then make one store call.

Signaling and HTTP handlers call these; they never reach the store directly for changes, so
every rule about centres, matters, outcomes and ratings is checked in one place.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from window_server.domain import errors, outcomes
from window_server.domain.catalogue import Catalogue, Centre, Matter
from window_server.domain.conversation import MAX_CHAT, MAX_CHAT_MESSAGES, QUICK_REPLIES, quick_text
from window_server.domain.routing import agent_pool
from window_server.domain.session import (
    LANGUAGES,
    MAX_CASE_NUMBER,
    MAX_NOTE,
    MAX_REASON,
    MAX_TARGET,
    RATING_LEVELS,
    Outcome,
    Priority,
    TicketSource,
    TransferMode,
)
from window_server.queue.store import QueueStore, Result

log = logging.getLogger(__name__)


def _enum(cls: Any, value: Any, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise errors.InvalidInput(f"{field} must be one of {allowed}", field=field) from None


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise errors.InvalidInput(f"{field} must be text", field=field)
    text: str = value.strip()
    if required and not text:
        raise errors.InvalidInput(f"{field} is required", code=f"{field}_required", field=field)
    if len(text) > limit:
        raise errors.InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return text


class QueueService:
    """Booth and specialist actions on the queue, checked against the chain's catalogue."""

    def __init__(self, store: QueueStore, catalogue: Catalogue) -> None:
        self.store = store
        self.catalogue = catalogue

    def centre(self, centre_id: str) -> Centre:
        if not self.catalogue.has_centre(centre_id):
            raise errors.NotFound(f"no centre {centre_id!r} in the chain", code="unknown_centre", field="centre")
        return self.catalogue.centre(centre_id)

    def matter(self, code: str) -> Matter:
        if not isinstance(code, str) or not self.catalogue.has_matter(code):
            raise errors.NotFound(f"no matter {code!r} in the catalogue", code="unknown_matter", field="matter")
        return self.catalogue.matter(code)

    # --- booth ---------------------------------------------------------------------------

    async def request_service(
        self,
        *,
        booth: str,
        intake_centre: str,
        matter: str,
        priority: str = "",
        source: str = "walk_in",
        lang: str = "zh",
        consent: bool = False,
    ) -> Result:
        """A citizen at a booth asks for a matter: a ticket, queued and offered if someone is free."""
        self.centre(intake_centre)
        m = self.matter(matter)
        prio = _enum(Priority, priority or "", "priority")
        src = _enum(TicketSource, source, "source")
        if lang not in LANGUAGES:
            raise errors.InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}", field="lang")
        if consent is not True:
            raise errors.InvalidInput(
                "the citizen must agree to the recording notice before queueing", code="consent_required",
                field="consent",
            )
        if not self.catalogue.centres_serving(m.home_region):
            raise errors.Conflict(f"no centre serves region {m.home_region}", code="no_centre_serves")
        result = await self.store.enqueue(
            booth=booth, intake_centre=intake_centre, matter=m.code, region=m.home_region, lang=lang,
            priority=prio.value, source=src.value, consent=True,
            status_code=secrets.token_urlsafe(16),  # the public status page's code (/r/<code>): unguessable
        )
        log.info("ticket %s session=%s booth=%s matter=%s", result.ok.get("ticket"), result.ok.get("sid"),
                 booth, m.code)
        return result

    async def leave(self, sid: str, booth: str, reason: str = "") -> Result:
        return await self.store.leave(sid, booth, _text(reason, "reason", MAX_REASON))

    async def rate(self, sid: str, booth: str, level: Any, comment: Any = "") -> Result:
        """One rating per session on the national five-level scale (一次一评)."""
        if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LEVELS:
            raise errors.InvalidInput("level must be a whole number from 1 to 5", code="invalid_rating", field="level")
        return await self.store.rate(sid, booth, level, _text(comment, "comment", MAX_REASON))

    # --- specialist ------------------------------------------------------------------------

    async def agent_login(self, aid: str, centre_id: str, langs: tuple[str, ...] = ("zh",)) -> Result:
        """Sign a specialist in with the pools of their centre (own and partner regions)."""
        c = self.centre(centre_id)
        pool = agent_pool(c.region, c.serves_regions)
        return await self.store.agent_login(aid, c.id, pool, tuple(lang for lang in langs if lang in LANGUAGES))

    async def transfer(
        self, aid: str, sid: str, *, reason: Any, mode: Any = "warm", to_agent: Any = "", to_centre: Any = ""
    ) -> Result:
        """Hand a session to a named specialist or to a centre, warm or cold, with a reason."""
        reason_text = _text(reason, "reason", MAX_REASON, required=True)
        mode_v = _enum(TransferMode, mode, "mode")
        to_agent = _text(to_agent, "to_agent", MAX_TARGET)
        to_centre = _text(to_centre, "to_centre", MAX_TARGET)
        if bool(to_agent) == bool(to_centre):
            raise errors.InvalidInput("name exactly one of to_agent or to_centre", code="invalid_target", field="to_agent")
        if to_centre:
            session = await self.store.session(sid)
            if not self.centre(to_centre).serves(session.get("region", "")):
                raise errors.Conflict(
                    f"centre {to_centre} is not authorised for region {session.get('region')}",
                    code="centre_not_authorised", field="to_centre",
                )
        return await self.store.transfer(aid, sid, reason=reason_text, mode=mode_v.value,
                                         to_agent=to_agent, to_centre=to_centre)

    async def complete(self, aid: str, sid: str, outcome: Any, case_number: Any = "", missing: Any = None) -> Result:
        """End a session; an intake outcome needs a passed identity check first, needs_supplement its
        list of missing materials (stored with the completion), postal_delivery the delivery address."""
        out = _enum(Outcome, outcome, "outcome")
        items: list[dict[str, str]] = []
        note = ""
        if out is Outcome.NEEDS_SUPPLEMENT:
            items, note = await self._missing(sid, missing)
        return await self.store.complete(
            aid, sid, out.value, _text(case_number, "case_number", MAX_CASE_NUMBER),
            require_identity=out is Outcome.INTAKE, missing=items, missing_note=note,
            require_address=out is Outcome.POSTAL_DELIVERY,
        )

    async def _missing(self, sid: str, raw: Any) -> tuple[list[dict[str, str]], str]:
        """A needs_supplement outcome's list ``[{kind, how}]``, checked against the matter, and its note."""
        s = await self.store.session(sid)
        if not s:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        matter = self.matter(s.get("matter", ""))
        items = outcomes.missing_items(matter, raw)
        if not items:
            raise errors.InvalidInput("a needs_supplement outcome must list the missing materials",
                                      code="missing_required", field="missing")
        names = [f"{matter.material(i['kind']).name_zh}（{outcomes.how_words(i['how'], matter)['zh']}）" for i in items]
        return items, "需补正材料 / missing: " + "；".join(names)

    async def delivery_address(self, aid: str, sid: str, recipient: Any, phone: Any, address: Any) -> Result:
        """Keep the delivery address (结果寄递) of the session ``aid`` holds: full in private, masked on it."""
        full = outcomes.delivery(recipient, phone, address)
        return await self.store.delivery(aid, sid, full, outcomes.masked_delivery(full))

    async def note(self, aid: str, sid: str, text: Any) -> Result:
        return await self.store.annotate(aid, sid, "note", text=_text(text, "text", MAX_NOTE, required=True))

    # --- the live handlers' changes (thin: the rule is the Lua's; one way in for every change) ----

    async def presence(self, aid: str, status: str) -> Result:
        """A specialist sets their presence (available, away, …)."""
        return await self.store.presence(aid, status)

    async def heartbeat(self, aid: str) -> Result:
        return await self.store.heartbeat(aid)

    async def logout(self, aid: str) -> Result:
        return await self.store.logout(aid)

    async def accept(self, aid: str, sid: str) -> Result:
        return await self.store.accept(aid, sid)

    # --- console (issue 19, helper C) ---
    async def take(self, aid: str, sid: str) -> Result:
        """Take a waiting session from the queue list: offered and accepted in one call (rw_take checks
        the router's eligibility: scope, language, lanes, decline memory, the specialist free)."""
        return await self.store.take(aid, sid)

    async def takeable(self, aid: str, sids: list[str], now: int | None = None) -> list[str]:
        """Per session: '' when ``aid`` may take it now, else the code ``take`` would answer."""
        return await self.store.takeable(aid, sids, now)
    # --- end console ---

    async def decline(self, aid: str, sid: str, reason: str = "") -> Result:
        return await self.store.decline(aid, sid, reason)

    async def no_show(self, aid: str, sid: str, reason: str = "") -> Result:
        return await self.store.no_show(aid, sid, reason)

    # --- conversation (issue 18, helper C) ---
    async def chat(self, sid: str, party: str, who: str, text: Any, quick: Any = "") -> Result:
        """A message beside the video from the specialist holding ``sid`` or its booth (``party``).

        A quick reply (the booth's chips) is a key of ``QUICK_REPLIES``; without words of its own it
        is kept with its Chinese words. The words arrive masked (the protocol's door).
        """
        key = quick or ""
        if key and (party != "booth" or key not in QUICK_REPLIES):
            raise errors.InvalidInput("quick must be one of the booth's quick replies", field="quick")
        words = _text(text, "text", MAX_CHAT) or quick_text(key, "zh")
        if not words:
            raise errors.coded("chat_empty", "send some text or a quick reply", field="text")
        return await self.store.chat(sid, party, who, words, key, cap=MAX_CHAT_MESSAGES)

    async def hang_up(self, sid: str, booth: str) -> Result:
        """The citizen ends the call at the booth (结束通话): completed without an outcome."""
        return await self.store.hang_up(sid, booth)
    # --- end conversation ---

    async def media(self, sid: str, party: str, what: str, *, by: str) -> Result:
        """A party's media is ``lost`` or ``back`` (its socket went or came)."""
        return await self.store.media(sid, party, what, by=by)

    async def identity(self, aid: str, sid: str, check: dict[str, Any]) -> Result:
        """Record the specialist's identity check on the session (``check`` carries ``at`` and ``by``)."""
        return await self.store.annotate(aid, sid, "identity", data=check, now=check["at"], event={
            "method": check["method"], "result": check["result"], "material_id": check["material_id"]})
