"""Synthetic history for the flat-cost test and the benchmark: plausible sessions' event logs.

Each session's events look like the queue's (same fields and actions), so they fold through
``aggregator.bulk_load`` exactly as logged sessions fold through the consumer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from window_server.domain.catalogue import Catalogue

Events = list[tuple[str, dict[str, str]]]

_COMMENTS = ("等了很久", "材料要求没讲清楚", "电话13812345678请回电", "")


def synthetic_sessions(
    catalogue: Catalogue,
    n: int,
    *,
    first_day: date,
    days: int,
    tz: ZoneInfo,
    seed: int = 1,
    prefix: str = "H",
) -> Iterator[tuple[str, Events]]:
    """Yield ``n`` sessions spread over ``days`` days from ``first_day``, each with its events."""
    rng = random.Random(seed)
    matters = [m for m in catalogue.matters if catalogue.centres_serving(m.home_region)]
    centres = [c.id for c in catalogue.centres]
    for i in range(n):
        day = first_day + timedelta(days=i % days)
        opens = datetime(day.year, day.month, day.day, 9, tzinfo=tz)
        enq = int(opens.timestamp() * 1000) + rng.randrange(8 * 3600 * 1000)
        sid = f"{prefix}{day:%Y%m%d}{i:07d}"
        m = rng.choice(matters)
        serving = rng.choice(catalogue.centres_serving(m.home_region)).id
        yield sid, _session(rng, sid, enq, rng.choice(centres), m.code, serving)


def _session(rng: random.Random, sid: str, enq: int, intake: str, matter: str, serving: str) -> Events:
    """One session's events: abandoned, a no-show, or answered (sometimes transferred), then rated or not."""
    events: Events = []
    agent = f"spec-{serving}"

    def add(ts: int, **fields: str) -> None:
        events.append((f"{ts}-{len(events)}", {"sid": sid, "ts": str(ts), **fields}))

    add(enq, act="enqueue", **{"from": "", "to": "waiting"}, intake=intake, matter=matter, by="booth:x")
    fate = rng.random()
    if fate < 0.12:  # leaves before an answer
        add(enq + rng.randrange(2_000, 600_000), act="leave", **{"from": "waiting", "to": "abandoned"})
        return events
    if fate < 0.18:  # called, nobody there
        add(enq + rng.randrange(5_000, 300_000), act="no_show", agent=agent, **{"from": "offered", "to": "no_show"})
        return events
    answered = enq + rng.randrange(3_000, 400_000)
    add(answered, act="accept", agent=agent, agent_centre=serving, **{"from": "offered", "to": "in_service"})
    end = answered + rng.randrange(60_000, 1_800_000)
    holder = agent
    if rng.random() < 0.05:
        holder = f"spec2-{serving}"
        add(answered + 30_000, act="transfer", **{"from": "in_service", "to": "transferring"})
        add(answered + 40_000, act="transfer_accept", agent=holder, **{"from": "transferring", "to": "in_service"})
    add(end, act="complete", agent=holder, outcome="consultation", **{"from": "in_service", "to": "completed"})
    add(end + rng.randrange(10_000, 60_000), act="wrap_end", aid=holder, **{"from": "wrap_up", "to": "available"})
    if rng.random() < 0.7:
        level = rng.choices((5, 4, 3, 2, 1), (60, 25, 8, 4, 3))[0]
        add(end + 5_000, act="rate", level=str(level), why=rng.choice(_COMMENTS) if level < 3 else "",
            **{"from": "completed", "to": "rated"})
    return events
