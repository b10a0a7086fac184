"""The hand-switch rule, row by row, on real Redis: the Lua answers what the oracle says.

Each row brings a specialist into one situation through real queue calls (never by writing
Redis), reads back their status and the session and reserve slots, and asks for a presence:
``rw_presence`` must answer exactly ``tests/oracle/presence.manual_switch_refusal``'s code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.oracle.presence import manual_switch_refusal
from window_server.domain.errors import RemoteWindowError
from window_server.domain.presence import Presence
from window_server.domain.routing import agent_pool
from window_server.queue.store import QueueStore

from .conftest import TIMING, Clock

POOL = agent_pool("320500", ("320500",))


async def ticket(store: QueueStore, booth: str = "b1") -> str:
    res = await store.enqueue(booth=booth, intake_centre="c", matter="m", region="320500", lang="zh",
                              priority="", source="walk_in", consent=True)
    return str(res.ok["sid"])


async def signed_in(store: QueueStore, clock: Clock, aid: str = "a1") -> None:
    await store.agent_login(aid, "c-suzhou", POOL, ("zh",))


async def available(store: QueueStore, clock: Clock) -> None:
    await signed_in(store, clock)
    await store.presence("a1", "available")


async def offered(store: QueueStore, clock: Clock) -> None:
    await available(store, clock)
    await ticket(store)


async def in_service(store: QueueStore, clock: Clock) -> str:
    await available(store, clock)
    sid = await ticket(store)
    await store.accept("a1", sid)
    return sid


async def wrapping_up(store: QueueStore, clock: Clock) -> None:
    sid = await in_service(store, clock)
    await store.complete("a1", sid, "consultation")


async def transferring(store: QueueStore, clock: Clock, mode: str) -> None:
    sid = await in_service(store, clock)
    await signed_in(store, clock, "a2")  # away: the transfer to their centre waits for them
    await store.transfer("a1", sid, reason="needs a colleague", mode=mode, to_centre="c-suzhou")


async def console_gone_in_service(store: QueueStore, clock: Clock) -> None:
    await in_service(store, clock)
    await store.logout("a1")


async def back_within_the_grace(store: QueueStore, clock: Clock) -> None:
    await in_service(store, clock)
    clock.advance(TIMING.heartbeat_ttl_ms / 1000)
    await store.tick()  # the heartbeat stopped: the session waits out its grace
    await signed_in(store, clock)  # the console is back, its media not yet


async def signed_out(store: QueueStore, clock: Clock) -> None:
    await signed_in(store, clock)
    await store.logout("a1")


async def _warm(store: QueueStore, clock: Clock) -> None:
    await transferring(store, clock, "warm")


async def _cold(store: QueueStore, clock: Clock) -> None:
    await transferring(store, clock, "cold")


P = Presence
#: situation -> (status, session held, reserve held) it must leave the specialist in
ROWS: list[tuple[Callable[[QueueStore, Clock], Awaitable[object]], tuple[Presence, bool, bool]]] = [
    (available, (P.AVAILABLE, False, False)),
    (signed_in, (P.AWAY, False, False)),
    (wrapping_up, (P.WRAP_UP, False, False)),
    (offered, (P.OFFERED, False, False)),
    (in_service, (P.IN_SERVICE, True, False)),
    (_warm, (P.IN_SERVICE, True, True)),
    (_cold, (P.WRAP_UP, True, True)),
    (back_within_the_grace, (P.AWAY, True, False)),
    (console_gone_in_service, (P.OFFLINE, True, False)),
    (signed_out, (P.OFFLINE, False, False)),
]


@pytest.mark.parametrize(("situation", "expected"), ROWS, ids=[f.__name__.strip("_") for f, _ in ROWS])
@pytest.mark.parametrize("wanted", ["available", "away", "wrap_up"])
async def test_hand_switch_is_answered_as_the_oracle_says(
    store: QueueStore, clock: Clock, situation: Callable[[QueueStore, Clock], Awaitable[object]],
    expected: tuple[Presence, bool, bool], wanted: str,
) -> None:
    await situation(store, clock)
    a = await store.agent("a1")
    status, session, reserve = Presence(a["status"]), a.get("session", ""), a.get("reserve", "")
    assert (status, bool(session), bool(reserve)) == expected  # the row is the situation it names
    refusal = manual_switch_refusal(status, session=session, reserve=reserve)
    if refusal is None:
        res = await store.presence("a1", wanted)
        assert res.ok["status"] in (wanted, "offered")
    else:
        with pytest.raises(RemoteWindowError) as info:
            await store.presence("a1", wanted)
        assert info.value.code == refusal
        assert await store.agent("a1") == a  # a refusal changes nothing
