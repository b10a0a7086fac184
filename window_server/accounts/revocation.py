"""The Redis side of single-use connect tokens and revocation, for signaling.

At connect, one MULTI round trip spends the token's nonce and reads its account record and the
end of its login; ``window_server.domain.auth.admit`` decides. While sockets are open, each node
reads one cue per sweep, and only when it changed (something was revoked) the stamps of its
connected accounts and logins with one MGET; ``revoked_since`` decides. The stamps are written by ``AccountStore`` with the bump of the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from redis.asyncio import Redis

from window_server.domain.auth import (
    AccountRecord,
    ConnectToken,
    account_of,
    admit,
    nonce_ttl_ms,
    revoked_since,
)
from window_server.store.keys import key

_UNSEEN = object()  # no full check yet
_USER_FIELDS = ("role", "centre", "disabled", "demo", "gen")
_BOOTH_FIELDS = ("centre", "revoked", "demo", "gen")


def _record(kind: str, values: list[str | None]) -> AccountRecord | None:
    if kind == "user":
        role, centre, blocked, demo, gen = values
        if role is None:
            return None
    else:
        centre, blocked, demo, gen = values
        if centre is None:
            return None
        role = ""
    try:
        generation = int(gen or "0")
    except ValueError:
        generation = -1  # a damaged record matches no token
    return AccountRecord(role=role, centre=centre or "", blocked=blocked == "1", demo=demo == "1", gen=generation)


def revocation_keys(token_account: tuple[str, str], login: str) -> list[str]:
    """The stamps that can end a socket: its account's and, for staff, its login's."""
    kind, subject = token_account
    keys = [key("revoked", kind=kind, subject=subject)]
    if login:
        keys.append(key("revoked", kind="login", subject=login))
    return keys


class ConnectGate:
    """Spends nonces and checks accounts at connect; finds revoked sockets for the sweep."""

    def __init__(self, redis: Redis, *, demo: bool) -> None:
        self.redis = redis
        self.demo = demo
        self._cue_seen: object = _UNSEEN  # the revocations cue at the last full check

    async def admit(self, token: ConnectToken, now_ms: int) -> None:
        """Spend the nonce and check the account; raise the ``admit`` errors. One round trip."""
        kind, subject = account_of(token.principal)
        fields: tuple[str, ...]
        if kind == "user":
            record_key, fields = key("user", username=subject), _USER_FIELDS
        else:
            record_key, fields = key("booth_account", booth=subject), _BOOTH_FIELDS
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key("nonce", nonce=token.nonce), "1", nx=True, px=nonce_ttl_ms(token, now_ms))
            pipe.hmget(record_key, list(fields))
            pipe.exists(key("revoked", kind="login", subject=token.login or "-"))
            spent, values, ended = await pipe.execute()
        admit(token, _record(kind, values), nonce_fresh=bool(spent),
              login_ended=bool(token.login) and bool(ended), demo_mode=self.demo)

    async def revoked(self, open_sockets: Iterable[tuple[tuple[str, str], str, int]]) -> set[int]:
        """Indexes of the sockets, given as ((kind, id), login id, generation), that must end.

        Every revocation also sets ``rw:revocations`` to a fresh random value, in the same atomic
        step as its stamp. While that value is the one seen at the last full check, nothing was
        revoked since, and sockets opened since were checked at connect: one GET, no MGET. (A
        random value, not a counter: Redis restarted from its AOF can lose a counter's last
        increments and count the same numbers again.)
        """
        cue = await self.redis.get(key("revocations"))
        if cue == self._cue_seen:
            return set()
        sockets = list(open_sockets)
        wanted = sorted({k for account, login, _gen in sockets for k in revocation_keys(account, login)})
        if not wanted:
            self._cue_seen = cue
            return set()
        # the client decodes replies (``store.client``): a stamp is str or None, never bytes
        stamps = dict(zip(wanted, cast(list[str | None], await self.redis.mget(wanted)), strict=True))
        ended = set()
        for i, (account, login, gen) in enumerate(sockets):
            account_key, *login_key = revocation_keys(account, login)
            if revoked_since(stamps[account_key], gen) or (login_key and stamps[login_key[0]] is not None):
                ended.add(i)
        self._cue_seen = cue  # read before the stamps: a revocation after it changes the cue again
        return ended
