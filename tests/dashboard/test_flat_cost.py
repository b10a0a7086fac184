"""A dashboard request reads aggregates, not history: its Redis commands do not grow with history.

The commands are counted on the client (every command packed for the wire, pipelines included),
not timed: 1,000 and 100,000 historical sessions must cost the same number of commands.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection

from tests.dashboard.conftest import TZ, Dash
from window_server.appkeys import CATALOGUE
from window_server.dashboard.aggregator import bulk_load
from window_server.dashboard.history import synthetic_sessions
from window_server.dashboard.queries import REVIEW_PAGE, Queries
from window_server.dashboard.store import DashboardStore
from window_server.domain.auth import Role

FIRST = date(2026, 1, 31)  # thirty days of history before the scripted day (2 March)
DAYS = 30
LAST = FIRST + timedelta(days=DAYS - 1)


def counting_client(url: str) -> tuple[Redis, list[str]]:
    """A client that records the name of every command it sends."""
    sent: list[str] = []

    class Counting(Connection):
        def pack_command(self, *args: Any) -> Any:
            sent.append(str(args[0]))
            return super().pack_command(*args)

    pool = BlockingConnectionPool.from_url(url, decode_responses=True, connection_class=Counting,
                                           max_connections=4, timeout=10)
    return Redis.from_pool(pool), sent


REQUESTS = {
    "live": "/api/dashboard/live",
    "kpis": f"/api/dashboard/kpis?from={FIRST}&to={LAST}",
    "kpis by matter": f"/api/dashboard/kpis?from={FIRST}&to={LAST}&group=matter",
    "kpis by pair": f"/api/dashboard/kpis?from={FIRST}&to={LAST}&group=pair",
    "kpis by centre": f"/api/dashboard/kpis?from={FIRST}&to={LAST}&group=centre",
    "series": f"/api/dashboard/series?day={LAST}",
}


async def commands_per_request(d: Dash, sent: list[str]) -> dict[str, int]:
    out = {}
    for name, path in {**REQUESTS, "bad reviews": "/api/dashboard/bad-reviews"}.items():
        status, body = await d.get(path, "chief")  # warm: the pool's connection is open
        assert status == 200, body
        sent.clear()
        status, body = await d.get(path, "chief")
        assert status == 200, body
        out[name] = len(sent)
    return out


async def seed(d: Dash, n: int, *, seed: int) -> None:
    sessions = synthetic_sessions(d.srv.app[CATALOGUE], n, first_day=FIRST, days=DAYS, tz=TZ, seed=seed,
                                  prefix=f"H{seed}-")
    await bulk_load(DashboardStore(d.store.redis), d.dashboard.aggregator.folder, sessions, now_ms=d.store.now_ms())


async def test_commands_per_request_do_not_grow_with_history(dash_factory: Any, redis_url: str) -> None:
    d = await dash_factory()
    await d.login("chief", Role.CHAIN_MANAGER)
    client, sent = counting_client(redis_url)
    q = d.dashboard.queries
    d.dashboard.queries = Queries(DashboardStore(client), q.catalogue, q.settings, q.policy, q.clock)
    try:
        await seed(d, 1_000, seed=1)
        small = await commands_per_request(d, sent)
        status, body = await d.get(REQUESTS["kpis"], "chief")
        assert body["total"]["tickets"] == 1_000
        await seed(d, int(os.environ.get("RW_FLAT_N", "99000")), seed=2)
        large = await commands_per_request(d, sent)
        status, body = await d.get(REQUESTS["kpis"], "chief")
        assert body["total"]["tickets"] == 100_000
    finally:
        await client.aclose()
    reviews_small, reviews_large = small.pop("bad reviews"), large.pop("bad reviews")
    assert small == large, (small, large)
    # 30 days x 23 scopes is the most any of these reads (kpis by centre)
    assert max(large.values()) <= 30 * 23 + 40, large
    # the open bad reviews are listed a page at a time: bounded by the page, not by history
    assert reviews_small <= reviews_large <= 1 + 2 * REVIEW_PAGE
