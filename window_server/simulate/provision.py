"""Accounts for more simulated clients than the demo chain has (22 booths, 22 specialists).

This is the operator's side, not the protocol's: it registers booths and specialists in the
server's Redis through the account store, as ``python -m window_server booths add`` / ``users add``
would. Use it against a server you run yourself (the embedded demo, a test cluster).
"""

from __future__ import annotations

import asyncio
import secrets

from window_server.accounts.store import AccountStore
from window_server.domain.auth import Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import Conflict
from window_server.runtime.catalogue import load_catalogue
from window_server.store.client import make_redis

Accounts = tuple[tuple[str, str], ...]


async def provision_accounts(
    redis_url: str, *, booths: int, specialists: int, password: str = "", prefix: str = "sim",
    catalogue: Catalogue | None = None, secret: str = "",
) -> tuple[Accounts, Accounts]:
    """Register ``booths`` booths (``<prefix>-b0001`` …) and ``specialists`` specialists
    (``<prefix>-s0001`` …), spread over the chain's centres in order; return
    ``((booth, token), …), ((username, password), …)`` for ``SimConfig``.

    Idempotent: an existing booth gets a fresh token (revoked and issued again, as a rotation),
    an existing specialist the given password. ``password`` '' : a random one.
    """
    catalogue = catalogue or load_catalogue()
    centres = [c.id for c in catalogue.centres]
    password = password or secrets.token_urlsafe(18)
    redis = make_redis(redis_url, timeout=30)
    try:
        store = AccountStore(redis, catalogue, configured_secret=secret)
        gate = asyncio.Semaphore(8)

        async def booth(i: int) -> tuple[str, str]:
            bid, centre = f"{prefix}-b{i + 1:04d}", centres[i % len(centres)]
            async with gate:
                try:
                    _, token = await store.add_booth(bid, centre, f"模拟亭 {i + 1}")
                except Conflict:
                    await store.revoke_booth(bid)
                    _, token = await store.add_booth(bid, centre, f"模拟亭 {i + 1}")
            return bid, token

        async def user(i: int) -> tuple[str, str]:
            name, centre = f"{prefix}-s{i + 1:04d}", centres[i % len(centres)]
            async with gate:
                try:
                    await store.add_user(name, password, Role.SPECIALIST, centre, name=f"模拟专员 {i + 1}")
                except Conflict:
                    await store.set_password(name, password)
            return name, password

        booth_accounts = tuple(await asyncio.gather(*(booth(i) for i in range(booths))))
        specialist_accounts = tuple(await asyncio.gather(*(user(i) for i in range(specialists))))
        return booth_accounts, specialist_accounts
    finally:
        await redis.aclose()
