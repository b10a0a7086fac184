"""The pure rules of single-use connect tokens and revocation (window_server/domain/auth.py)."""

from __future__ import annotations

import pytest

from window_server.domain.auth import (
    AccountDisabled,
    AccountRecord,
    ConnectToken,
    Principal,
    Role,
    TokenRevoked,
    TokenUsed,
    UnknownAccount,
    admit,
    nonce_ttl_ms,
    revoked_since,
)
from window_server.domain.errors import RemoteWindowError

SPEC = ConnectToken(Principal(Role.SPECIALIST, "li.wei", "sh-huangpu"), "/agent", 1_000, 121_000, "n", 3, "L1")
BOOTH = ConnectToken(Principal(Role.BOOTH, "sh-huangpu-01", "sh-huangpu"), "/booth", 1_000, 121_000, "n", 2)
USER_OK = AccountRecord("specialist", "sh-huangpu", blocked=False, demo=False, gen=3)
BOOTH_OK = AccountRecord("", "sh-huangpu", blocked=False, demo=False, gen=2)


def _with(record: AccountRecord, **changes: object) -> AccountRecord:
    return AccountRecord(**{**record.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "record", "nonce_fresh", "login_ended", "demo_mode", "error"),
    [
        (SPEC, USER_OK, True, False, False, None),
        (BOOTH, BOOTH_OK, True, False, False, None),
        (SPEC, USER_OK, False, False, False, TokenUsed),  # single use
        (SPEC, None, True, False, False, UnknownAccount),
        (SPEC, _with(USER_OK, role="chain_manager"), True, False, False, UnknownAccount),
        (SPEC, _with(USER_OK, centre="sh-pudong"), True, False, False, UnknownAccount),
        (BOOTH, USER_OK, True, False, False, UnknownAccount),  # a user's record is no booth
        (SPEC, _with(USER_OK, blocked=True, gen=4), True, False, False, AccountDisabled),
        (SPEC, _with(USER_OK, demo=True), True, False, False, AccountDisabled),
        (SPEC, _with(USER_OK, demo=True), True, False, True, None),
        (SPEC, _with(USER_OK, gen=4), True, False, False, TokenRevoked),  # password changed since
        (SPEC, USER_OK, True, True, False, TokenRevoked),  # logged out
        (BOOTH, _with(BOOTH_OK, blocked=True, gen=3), True, False, False, TokenRevoked),
        (BOOTH, _with(BOOTH_OK, gen=4), True, False, False, TokenRevoked),  # re-issued since
    ],
)
def test_admit(token: ConnectToken, record: AccountRecord | None, nonce_fresh: bool, login_ended: bool,
               demo_mode: bool, error: type[RemoteWindowError] | None) -> None:
    if error is None:
        admit(token, record, nonce_fresh=nonce_fresh, login_ended=login_ended, demo_mode=demo_mode)
    else:
        with pytest.raises(error):
            admit(token, record, nonce_fresh=nonce_fresh, login_ended=login_ended, demo_mode=demo_mode)


@pytest.mark.parametrize(("stamp", "gen", "ended"), [
    (None, 3, False), ("3", 3, False), ("4", 3, True), ("2", 3, False), ("garbage", 3, True),
])
def test_revoked_since(stamp: str | None, gen: int, ended: bool) -> None:
    assert revoked_since(stamp, gen) is ended


def test_a_spent_nonce_is_remembered_while_any_node_would_accept_its_token() -> None:
    assert nonce_ttl_ms(SPEC, now_ms=1_000) == 120_000 + 60_000  # the lifetime left plus clock skew
    assert nonce_ttl_ms(SPEC, now_ms=10**9) == 1
