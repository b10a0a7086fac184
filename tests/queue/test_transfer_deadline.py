"""The transfer's deadlines as docs/protocol.md (Transfers) states them, on real Redis with a hand-moved clock.

A named specialist's transfer offer lasts the offer timeout (20 s), not RW_TRANSFER_TIMEOUT_SECONDS;
the transfer as a whole ends at the latest after the transfer timeout, even with an offer still open.
"""

from __future__ import annotations

from window_server.queue.store import QueueStore

from .conftest import TIMING, Clock
from .test_queue_store import agent, expect_error, serve


def _offer(fx: list[dict[str, object]]) -> dict[str, object]:
    [offer] = [e for e in fx if e.get("kind") == "offer"]
    return offer


async def _beat(store: QueueStore, *aids: str) -> None:
    for aid in aids:  # the specialists stay signed in while the clock jumps
        await store.heartbeat(aid)


async def test_a_named_transfer_offer_lasts_the_offer_timeout(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    await agent(store, "a2")
    res = await store.transfer("a1", sid, reason="needs the tax desk", mode="warm", to_agent="a2")
    offer = _offer(res.fx)
    assert offer["deadline"] == clock.ms + TIMING.offer_ms and offer["transfer"]
    assert offer["from_agent"] == "a1" and offer["why"] == "needs the tax desk"
    assert offer["from_centre"] == (await store.agent("a1"))["centre"]
    clock.advance(TIMING.offer_ms / 1000 + 1)
    await _beat(store, "a1", "a2")
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["agent"]) == ("in_service", "a1")  # back after 20 s, long before 120 s
    events = await store.session_events(sid)
    assert events[-1]["act"] == "transfer_timeout"


async def test_the_transfer_timeout_ends_a_transfer_even_with_an_offer_open(store: QueueStore, clock: Clock) -> None:
    sid = await serve(store)
    await store.transfer("a1", sid, reason="home centre", mode="warm", to_centre="c-target")
    clock.advance(TIMING.transfer_ms / 1000 - 5)  # nobody of c-target is free until now
    await _beat(store, "a1")
    await agent(store, "t1", centre="c-target")
    assert (await store.session(sid))["offer_agent"] == "t1"
    clock.advance(6)  # the transfer's deadline comes before the offer's
    await _beat(store, "a1", "t1")
    await store.tick()
    s = await store.session(sid)
    assert (s["state"], s["agent"], s["offer_agent"]) == ("in_service", "a1", "")
    await expect_error("not_your_offer", store.accept("t1", sid))  # a1 holds it again: not t1's


async def test_accepting_another_specialists_session_is_not_your_offer(store: QueueStore) -> None:
    sid = await serve(store)
    await agent(store, "a2")
    await expect_error("not_your_offer", store.accept("a2", sid))  # it was never offered to a2
