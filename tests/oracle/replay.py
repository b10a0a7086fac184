"""Replay the event log into session views: the log alone must explain every stored session.

An oracle: the Lua writes the log and the session hashes in one call; tests replay the log
through the transition table and check it explains what Redis stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from window_server.domain.session import Action, State, next_state

_ACTIONS = {a.value for a in Action}
_TRANSFER_ENDS = {Action.TRANSFER_ACCEPT, Action.TRANSFER_DECLINE, Action.TRANSFER_TIMEOUT}


@dataclass(frozen=True)
class SessionView:
    """What the log says about one session."""

    sid: str
    state: State
    agent: str = ""
    served: tuple[str, ...] = ()
    transfers: int = 0
    outcome: str = ""
    rating: str = ""


class LogInconsistent(AssertionError):
    """The log breaks the transition table: a test failure, not a user-facing error."""


def apply(view: SessionView | None, event: Mapping[str, str]) -> SessionView:
    """Apply one session transition event; raise LogInconsistent if the log breaks the table."""
    sid, action = event["sid"], Action(event["act"])
    state = next_state(view.state if view else None, action, sid)
    if event.get("to") and event["to"] != state:
        raise LogInconsistent(f"event {action} of {sid} says {event['to']}, the table says {state}")
    v = view or SessionView(sid=sid, state=state)
    v = replace(v, state=state)
    if action in (Action.ACCEPT, Action.TRANSFER_ACCEPT):
        v = replace(v, agent=event["agent"], served=(*v.served, event["agent"]))
    elif action is Action.REQUEUE:
        v = replace(v, agent="")
    if action in _TRANSFER_ENDS:
        v = replace(v, transfers=v.transfers + 1)
    if action is Action.COMPLETE:
        v = replace(v, outcome=event.get("outcome", ""))
    elif action is Action.RATE:
        v = replace(v, rating=event.get("level", ""))
    return v


def replay(events: Iterable[Mapping[str, str]]) -> dict[str, SessionView]:
    """Fold the chain-wide log (oldest first) into one view per session."""
    views: dict[str, SessionView] = {}
    for event in events:
        if "aid" in event or event.get("act") not in _ACTIONS or not event.get("sid"):
            continue  # presence changes and annotations do not move a session
        views[event["sid"]] = apply(views.get(event["sid"]), event)
    return views
