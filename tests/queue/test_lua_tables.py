"""The Lua library gets its facts from Python and says every session transition out loud.

- Its files are the ones ``LUA_PARTS`` loads (none forgotten, none missing).
- No state, presence status, tier or transfer mode is spelled out in Lua; actions reach the
  transition table only as ``A.…``; lanes only as ``LANE.…``/``LANES``: Python hands it all.
- Every transition is logged at INFO as ``session <sid> <from> -> <to> (<act> by <role>)``, with
  ids and roles only, never a reason (free text).
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import pytest

from window_server.domain.presence import Presence
from window_server.domain.routing import Lane, Tier, agent_pool
from window_server.domain.session import FINAL_STATES, TRANSITIONS, Action, State, TransferMode
from window_server.queue.store import LUA_PARTS, QueueStore, library_source, lua_tables

from .conftest import Clock

LUA = resources.files("window_server.queue").joinpath("lua")
SUZHOU = "320500"


def sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in LUA.iterdir() if p.name.endswith(".lua")}


def code_of(text: str) -> str:
    """The text without its comments (a comment may name a state in prose)."""
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def test_the_library_is_its_parts_in_order() -> None:
    assert sorted(sources()) == sorted(f"{p}.lua" for p in LUA_PARTS)
    text = library_source()
    assert text.startswith("#!lua name=rw\n") and "__TABLES__" not in text
    assert all(f"local {name} = " in text for name in lua_tables())


@pytest.mark.parametrize("name", sorted(f"{p}.lua" for p in LUA_PARTS))
def test_no_state_status_tier_or_mode_is_spelled_out_in_lua(name: str) -> None:
    facts = {*(s.value for s in State), *(p.value for p in Presence), *(t.value for t in Tier),
             *(m.value for m in TransferMode), *(lane.name.lower() for lane in Lane if lane.name != "PRIORITY")}
    text = code_of(sources()[name])
    text = re.sub(r"\bkey\('\w+'", "key(", text)  # key template names are another namespace
    found = sorted({lit for lit in re.findall(r"""['"]([\w-]*)['"]""", text) if lit in facts})
    assert found == [], f"{name}: use the tables from Python (S, P, TIER, MODE, LANE) for {found}"


def test_actions_and_lanes_come_from_python() -> None:
    text = code_of("\n".join(sources().values()))
    acts = {a.value for a in Action}
    literal_acts = re.findall(
        r"\b(?:transition|check|end_transfer|transfer_returned|offer_refused)\(\s*[\w.]+\s*,(?:\s*[\w.]+\s*,)?\s*'(\w+)'",
        text)
    assert [a for a in literal_acts if a in acts] == []
    assert [a for a in re.findall(r"\bact\s*[=~]=\s*'(\w+)'", text) if a in acts] == []
    assert re.findall(r"\benqueue\(\s*[\w.]+\s*,\s*(\d+)", text) == [], "a lane is LANE.…"
    assert "for lane =" not in text


def test_final_is_where_the_transition_table_ends() -> None:
    """Lua drops a session from the active set when it reaches FINAL: the table's dead ends."""
    dead_ends = set(State) - {src for src, _ in TRANSITIONS if src is not None}
    assert dead_ends == FINAL_STATES


async def test_every_transition_is_logged_without_free_text(
        store: QueueStore, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    secret = "the citizen's own words 张三 110101199003077777"
    caplog.set_level(logging.INFO, logger="window_server.queue.store")
    await store.agent_login("a1", "c-1", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    await store.presence("a1", "available")
    res = await store.enqueue(booth="b1", intake_centre="c-1", matter="m", region=SUZHOU, lang="zh",
                              priority="", source="walk_in", consent=True)
    sid = res.ok["sid"]
    await store.decline("a1", sid, reason=secret)
    await store.agent_login("a2", "c-1", agent_pool(SUZHOU, (SUZHOU,)), ("zh",))
    offered = await store.presence("a2", "available")
    assert offered.ok["offer"] == sid
    await store.accept("a2", sid)
    await store.annotate("a2", sid, "note", text=secret)
    done = await store.complete("a2", sid, "consultation")
    await store.rate(sid, "b1", 5, comment=secret)

    lines = [r.getMessage() for r in caplog.records if r.name == "window_server.queue.store"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage().startswith("session "))
    assert lines == [
        f"session {sid} new -> waiting (enqueue by booth)",
        f"session {sid} waiting -> offered (offer by router)",
        f"session {sid} offered -> waiting (decline by agent)",
        f"session {sid} waiting -> offered (offer by router)",
        f"session {sid} offered -> in_service (accept by agent)",
        f"session {sid} in_service -> completed (complete by agent)",
        f"session {sid} completed -> rated (rate by booth)",
    ]
    assert not any(secret in r.getMessage() or "张三" in r.getMessage() for r in caplog.records)
    # the log's extra fields stay out of the effects the signaling layer pushes
    sessions = [e for e in done.fx if e["kind"] == "session"]
    assert sessions and all("by" not in e and "from" not in e for e in sessions)
