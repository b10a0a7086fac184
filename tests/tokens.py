"""Accounts behind the connect tokens tests sign themselves (``tests.signaling.conftest.token``).

Signaling admits a token only for a user or booth that exists in the token's role and centre,
in the record's current generation. Tests that sign tokens directly (rather than logging in)
register that account here first, the way ``users add``/``booths add`` would have. The session's
Redis URL is noted by the ``redis_url`` fixture: ``token()`` is a plain function called from
many tests, so it cannot ask for a fixture itself.
"""

from __future__ import annotations

import time

import redis

from window_server.domain.auth import Principal, account_of
from window_server.store.keys import key


class _Session:
    url = ""


def use_redis(url: str) -> None:
    """Note the session's Redis (called by the ``redis_url`` fixture)."""
    _Session.url = url


def register(principal: Principal) -> int:
    """Make sure the principal's account exists (keeping its state if it does); return its generation."""
    if not _Session.url:
        raise RuntimeError("no Redis yet: use a server fixture before signing tokens")
    kind, subject = account_of(principal)
    now = str(int(time.time() * 1000))
    client = redis.Redis.from_url(_Session.url, decode_responses=True)
    try:
        if kind == "user":
            record = key("user", username=subject)
            client.hset(record, mapping={"role": principal.role.value, "centre": principal.centre,
                                         "langs": ",".join(principal.langs)})
            for field, value in (("disabled", "0"), ("demo", "0"), ("gen", "1"), ("created_ms", now)):
                client.hsetnx(record, field, value)
            client.sadd(key("users"), subject)
        else:
            record = key("booth_account", booth=subject)
            client.hset(record, "centre", principal.centre)
            for field, value in (("revoked", "0"), ("demo", "0"), ("gen", "1"), ("created_ms", now)):
                client.hsetnx(record, field, value)
            client.sadd(key("booth_accounts"), subject)
        return int(client.hget(record, "gen") or "0")
    finally:
        client.close()
