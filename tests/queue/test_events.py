"""Event stream entries read as a dict of strings, in the one-field format and the one before."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from window_server.queue.store import QueueStore
from window_server.store.events import FIELD, read_entries, read_event
from window_server.store.keys import key

from .test_queue_store import ticket


def test_an_event_reads_as_the_strings_it_was_written_as() -> None:
    raw = {"sid": "RW1", "act": "accept", "ts": 1_796_241_244_451, "wait_ms": 245.0, "late": True,
           "why": "", "ratio": 0.5}
    assert read_event({FIELD: json.dumps(raw)}) == {
        "sid": "RW1", "act": "accept", "ts": "1796241244451", "wait_ms": "245", "late": "true", "why": "",
        "ratio": "0.5",
    }


def test_entries_written_a_field_per_fact_read_the_same() -> None:
    old = {"sid": "RW1", "act": "accept", "ts": "1796241244451"}
    assert read_event(old) == old
    assert read_event(None) == {}  # an entry deleted while it was pending


async def test_a_session_history_mixing_both_formats_reads_in_order(store: QueueStore, redis: Redis) -> None:
    sid = await ticket(store, "b-mixed")
    stream = key("session_events", sid=sid)
    await redis.xadd(stream, {"sid": sid, "act": "note", "by": "old-node", "ts": "1"})  # a node before the change

    history = await store.session_events(sid)

    assert [e["act"] for e in history] == ["enqueue", "note"]
    assert history[0]["sid"] == sid and history[0]["ts"].isdigit()
    assert [ev for _id, ev in read_entries(await redis.xrange(stream))] == history
