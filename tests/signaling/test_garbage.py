"""Generated garbage at every event: always a well-formed answer, the server stays up, others unharmed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling import protocol as P
from window_server.domain.auth import Role

from .conftest import SECRET, Client, token

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def payloads(spec: P.Event) -> st.SearchStrategy[Any]:
    """Payloads near the spec (right names, wrong values) and far from it (anything)."""
    fields = {f.name: json_values for f in spec.fields}
    near = st.fixed_dictionaries({}, optional=fields) if fields else st.just({})
    return st.one_of(near, json_values, st.dictionaries(st.text(max_size=10), json_values, max_size=5))


def messages(namespace: str) -> st.SearchStrategy[tuple[str, Any]]:
    specs = list(P.client_events(namespace).values())
    known = st.sampled_from(specs).flatmap(lambda s: st.tuples(st.just(s.name), payloads(s)))
    unknown = st.tuples(st.text(min_size=1, max_size=20), json_values)
    return st.one_of(known, known, unknown)


# Hypothesis draws in a worker thread while the server and the clients run on the event loop,
# whose libraries use the global `random` (socket.io's reconnect jitter, aiohttp's connector);
# hypothesis reads that as a strategy using `random`. The drawn cases do not depend on it.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
async def test_garbage_never_crashes_the_server(start_server: Any, clients: Any, demo: dict[str, str]) -> None:
    srv = await start_server(secret=SECRET, rate_limit_per_second=100_000, rate_limit_burst=100_000,
                             frame_rate_per_second=100_000, frame_burst=100_000)
    bystander: Client = clients("/booth")
    await bystander.connect(srv.url, token(Role.BOOTH, "calm-booth", demo["intake_centre"], "/booth"))
    ticket = await bystander.ok("request_service", {"matter": demo["matter"], "consent": True})

    senders = {
        "/booth": clients("/booth"), "/agent": clients("/agent"), "/device": clients("/device"),
    }
    await senders["/booth"].connect(srv.url, token(Role.BOOTH, "noisy-booth", demo["intake_centre"], "/booth"))
    await senders["/agent"].connect(srv.url, token(Role.SPECIALIST, "noisy-spec", demo["intake_centre"], "/agent"))
    await senders["/device"].connect(srv.url, token(Role.DEVICE, "noisy-booth", demo["intake_centre"], "/device"))

    loop = asyncio.get_running_loop()
    answers: list[dict[str, Any]] = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(senders)).flatmap(lambda ns: st.tuples(st.just(ns), messages(ns))))
    def throw(case: tuple[str, tuple[str, Any]]) -> None:
        ns, (event, payload) = case
        if event in ("connect", "disconnect", "connect_error", "message"):
            return  # reserved by socket.io itself, not application events
        reply = asyncio.run_coroutine_threadsafe(senders[ns].call(event, payload), loop).result(timeout=30)
        answers.append(reply)
        assert isinstance(reply, dict) and len(reply) == 1 and set(reply) <= {"ok", "error"}, reply
        if "error" in reply:
            assert reply["error"]["code"] in P.ERROR_CODES or reply["error"]["code"].startswith(
                ("invalid_", "unknown_")), reply
            assert reply["error"]["code"] != "internal_error", reply

    await asyncio.to_thread(throw)
    assert len(answers) > 100
    resumed = await bystander.ok("resume")
    assert resumed["session"]["sid"] == ticket["sid"] and resumed["session"]["state"] == "waiting"


async def test_an_event_named_star_is_unknown(start_server: Any, clients: Any, demo: dict[str, str]) -> None:
    # python-socketio hands an event named "*" to the catch-all without its name: it must still
    # get an answer, whatever its payload
    srv = await start_server(secret=SECRET)
    booth: Client = clients("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, "star-booth", demo["intake_centre"], "/booth"))
    for payload in (None, ["x", 1], {"a": 1}, "text"):
        reply = await booth.call("*", payload)
        assert reply["error"]["code"] == "unknown_event", reply
    assert "ok" in await booth.call("request_service", {"matter": demo["matter"], "consent": True})
