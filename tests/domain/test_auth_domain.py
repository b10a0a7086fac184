"""The pure auth rules: roles and namespaces, connect tokens, TURN credentials. No event loop."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from window_server.domain.auth import (
    MAX_CONNECT_TOKEN_SECONDS,
    InvalidToken,
    Principal,
    Role,
    TokenExpired,
    WrongNamespace,
    can_manage_centre,
    can_serve,
    check_booth_id,
    check_display_name,
    check_langs,
    check_username,
    demo_accounts,
    ice_policy_problem,
    ice_servers,
    ice_urls_problem,
    may_open,
    read_connect_token,
    relay_without_turn,
    sign_connect_token,
    split_ice_urls,
    turn_credentials,
    verify_connect_token,
    visible_centres,
)
from window_server.domain.errors import Forbidden, InvalidInput, Unauthenticated
from window_server.runtime.catalogue import load_catalogue

SECRET = b"a-test-secret-of-some-length-0123456789"
NOW = 1_700_000_000_000
SPEC = Principal(Role.SPECIALIST, "li.wei", "sh-huangpu", ("zh", "en"), "李伟")
BOOTH = Principal(Role.BOOTH, "sh-huangpu-01", "sh-huangpu", ("zh",))


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- roles and namespaces -----------------------------------------------------------------

MAY_OPEN = {
    Role.BOOTH: {"/booth"},
    Role.DEVICE: {"/device"},
    Role.SPECIALIST: {"/agent"},
    Role.TEAM_LEAD: {"/agent", "/dashboard", "/guest"},
    Role.MANAGER: {"/dashboard", "/guest"},
    Role.CHAIN_MANAGER: {"/dashboard", "/guest"},
    Role.HALL_STAFF: set(),  # the hall pages poll over HTTP (issue 18)
    Role.REVIEWER: {"/guest"},  # issue 19: joins invited sessions
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("namespace", ["/booth", "/device", "/agent", "/dashboard", "/guest", "/", "/admin"])
def test_may_open_table(role: Role, namespace: str) -> None:
    assert may_open(role, namespace) is (namespace in MAY_OPEN[role])


@pytest.mark.parametrize(
    ("role", "centre", "target", "expected"),
    [
        (Role.CHAIN_MANAGER, "", "zj-hangzhou", True),
        (Role.MANAGER, "sh-huangpu", "sh-huangpu", True),
        (Role.MANAGER, "sh-huangpu", "sh-yangpu", False),
        (Role.TEAM_LEAD, "sh-huangpu", "sh-huangpu", True),
        (Role.TEAM_LEAD, "sh-huangpu", "js-suzhou", False),
        (Role.SPECIALIST, "sh-huangpu", "sh-huangpu", False),
        (Role.BOOTH, "sh-huangpu", "sh-huangpu", False),
        (Role.DEVICE, "sh-huangpu", "sh-huangpu", False),
    ],
)
def test_can_manage_centre(role: Role, centre: str, target: str, expected: bool) -> None:
    assert can_manage_centre(Principal(role, "x", centre), target) is expected


def test_visible_centres_and_serving() -> None:
    centres = ("sh-huangpu", "sh-yangpu", "js-suzhou")
    assert visible_centres(Principal(Role.CHAIN_MANAGER, "c", ""), centres) == centres
    assert visible_centres(Principal(Role.MANAGER, "m", "sh-yangpu"), centres) == ("sh-yangpu",)
    assert visible_centres(SPEC, centres) == ()
    assert [r for r in Role if can_serve(Principal(r, "x", "c"))] == [Role.SPECIALIST, Role.TEAM_LEAD]


# --- identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ab", "li.wei", "spec-sh-huangpu", "a" * 32, "0x_1"])
def test_good_usernames(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize("name", ["a", "A1", "-ab", ".ab", "a" * 33, "li wei", "李伟", "a:b", "ab\n", ""])
def test_bad_usernames(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_username(name)
    assert err.value.field == "username"


@pytest.mark.parametrize("booth", ["", "Sh-01", "sh--01", "-sh", "sh-", "sh_01", "a" * 65])
def test_bad_booth_ids(booth: str) -> None:
    with pytest.raises(InvalidInput):
        check_booth_id(booth)


def test_langs_and_names() -> None:
    assert check_langs(("zh", "en", "zh")) == ("zh", "en")
    for bad in [(), ("ZH",), ("english",)]:
        with pytest.raises(InvalidInput):
            check_langs(bad)
    assert check_display_name("  王芳 ") == "王芳"
    for bad in ["x" * 65, "a\nb", "王芳 330102199001011234"]:
        with pytest.raises(InvalidInput):
            check_display_name(bad)


def test_demo_accounts_plan() -> None:
    plan = demo_accounts(load_catalogue(None, None))
    names = [p[0] for p in plan]
    assert len(names) == len(set(names))
    specs = [p for p in plan if p[1] is Role.SPECIALIST]
    assert len(specs) == 22 and specs[1][:3] == ("spec-sh-huangpu", Role.SPECIALIST, "sh-huangpu")
    assert [p[0] for p in plan if p[1] is Role.TEAM_LEAD] == [
        "lead-sh-huangpu", "lead-js-nanjing", "lead-zj-hangzhou", "lead-ah-hefei"]
    assert [p[0] for p in plan if p[1] is Role.MANAGER] == [
        "mgr-sh-huangpu", "mgr-js-nanjing", "mgr-zj-hangzhou", "mgr-ah-hefei"]
    assert [p[:3] for p in plan if p[1] is Role.CHAIN_MANAGER] == [("chain-manager", Role.CHAIN_MANAGER, "")]


# --- connect tokens -----------------------------------------------------------------------


def test_token_round_trip() -> None:
    token = sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n1")
    got = read_connect_token(SECRET, token, "/agent", NOW + 1)
    assert got.principal == Principal(Role.SPECIALIST, "li.wei", "sh-huangpu", ("zh", "en"))
    assert (got.namespace, got.issued_ms, got.expires_ms, got.nonce) == ("/agent", NOW, NOW + 120_000, "n1")
    assert verify_connect_token(SECRET, token, "/agent", NOW) == got.principal


def test_token_carries_ids_only() -> None:
    token = sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n1")
    claims = json.loads(_b64d(token.split(".")[0]))
    assert set(claims) == {"v", "role", "sub", "ctr", "langs", "ns", "iat", "exp", "nonce", "gen", "lid"}
    assert "李伟" not in json.dumps(claims, ensure_ascii=False)
    assert SECRET.decode() not in token


def test_token_expires() -> None:
    token = sign_connect_token(SECRET, BOOTH, "/booth", NOW, 60, "n")
    assert verify_connect_token(SECRET, token, "/booth", NOW + 59_999)
    for later in (NOW + 60_000, NOW + 10**9):
        with pytest.raises(TokenExpired) as err:
            verify_connect_token(SECRET, token, "/booth", later)
        assert (err.value.code, err.value.http_status) == ("token_expired", 401)


@pytest.mark.parametrize("asked", [301, 600, 86_400, 1e9])
def test_lifetime_is_capped_at_300_seconds(asked: float) -> None:
    token = sign_connect_token(SECRET, BOOTH, "/booth", NOW, asked, "n")
    assert read_connect_token(SECRET, token, "/booth", NOW).expires_ms == NOW + MAX_CONNECT_TOKEN_SECONDS * 1000
    with pytest.raises(TokenExpired):
        verify_connect_token(SECRET, token, "/booth", NOW + 300_000)


def test_nonpositive_lifetime_and_empty_secret_are_refused() -> None:
    with pytest.raises(ValueError):
        sign_connect_token(SECRET, BOOTH, "/booth", NOW, 0, "n")
    with pytest.raises(ValueError):
        sign_connect_token(b"", BOOTH, "/booth", NOW, 60, "n")
    with pytest.raises(ValueError):
        sign_connect_token(SECRET, BOOTH, "/booth", NOW, 60, "")


def test_wrong_namespace() -> None:
    token = sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n")
    for other in ("/booth", "/dashboard", "/device"):
        with pytest.raises(WrongNamespace) as err:
            verify_connect_token(SECRET, token, other, NOW)
        assert (err.value.code, err.value.http_status) == ("wrong_namespace", 403)
        assert isinstance(err.value, Forbidden)
    with pytest.raises(WrongNamespace):  # a role is never issued a token it may not use
        sign_connect_token(SECRET, SPEC, "/dashboard", NOW, 120, "n")


def _forge(claims: dict[str, object], secret: bytes = SECRET) -> str:
    """A token with arbitrary claims, signed the way the module signs (key derivation included)."""
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    key = hmac.new(secret, b"remote-window/connect-token/v1", hashlib.sha256).digest()
    sig = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_forge_helper_matches_the_module() -> None:
    token = sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n")
    claims = json.loads(_b64d(token.split(".")[0]))
    assert verify_connect_token(SECRET, _forge(claims), "/agent", NOW) == verify_connect_token(
        SECRET, token, "/agent", NOW)


def _tampered() -> list[str]:
    good = sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n")
    body, sig = good.split(".")
    claims = json.loads(_b64d(body))
    as_lead = base64.urlsafe_b64encode(
        json.dumps({**claims, "role": "team_lead"}).encode()).rstrip(b"=").decode()
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    return [
        "", ".", "abc", good + ".x", body, f"{body}.", f".{sig}", f"{body}.{flipped}",
        f"{as_lead}.{sig}",  # elevated role with the old signature
        f"{body}.{sig}=",  # padding: not the canonical spelling
        f"{body}.{sig[:-1]}",
        sign_connect_token(b"another-secret", SPEC, "/agent", NOW, 120, "n"),
        "é" * 10 + "." + sig,
        "a" * 5000,
        _forge({**claims, "v": 1}),  # before single use and revocation: no generation, no login
        _forge({**claims, "v": 3}),
        _forge({**claims, "gen": "1"}),
        _forge({**claims, "lid": None}),
        _forge({k: v for k, v in claims.items() if k != "gen"}),
        _forge({**claims, "role": "admin"}),
        _forge({**claims, "exp": NOW + 301_000}),  # longer than any token may live
        _forge({**claims, "iat": NOW + 3_600_000, "exp": NOW + 3_700_000}),  # from the future
        _forge({**claims, "sub": 7}),
        _forge({**claims, "exp": "never"}),
        _forge({**claims, "exp": True}),
        _forge({**claims, "langs": "zh"}),
        _forge({k: v for k, v in claims.items() if k != "nonce"}),
        _forge([1, 2]),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("token", _tampered())
def test_tampered_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidToken) as err:
        verify_connect_token(SECRET, token, "/agent", NOW + 1)
    assert (err.value.code, err.value.http_status) == ("invalid_token", 401)
    assert isinstance(err.value, Unauthenticated)


def test_a_forged_valid_signature_needs_the_secret() -> None:
    claims = json.loads(_b64d(sign_connect_token(SECRET, SPEC, "/agent", NOW, 120, "n").split(".")[0]))
    with pytest.raises(InvalidToken):
        verify_connect_token(SECRET, _forge(claims, b"guess"), "/agent", NOW)


# --- TURN REST credentials -------------------------------------------------------------------


def test_turn_credentials_match_an_independent_vector() -> None:
    # Literal vector from: printf '%s' '1700000600:sh-huangpu-01' |
    #   openssl dgst -sha1 -hmac 'north-turn-secret' -binary | base64
    username, credential = turn_credentials("north-turn-secret", "sh-huangpu-01", 1_700_000_000, 600)
    assert username == "1700000600:sh-huangpu-01"
    assert credential == "xz7h6BBMlCbZQqq7o5lHt0a9NaE="
    expected = base64.b64encode(hmac.new(b"north-turn-secret", username.encode(), hashlib.sha1).digest())
    assert credential == expected.decode()


def test_turn_ttl_is_capped_and_user_checked() -> None:
    username, _ = turn_credentials("s", "li.wei", 1000, 86_400)
    assert username == "1600:li.wei"
    with pytest.raises(ValueError):
        turn_credentials("s", "a:b", 1000, 60)
    with pytest.raises(ValueError):
        turn_credentials("", "a", 1000, 60)
    with pytest.raises(ValueError):
        turn_credentials("s", "a", 1000, 0)


def test_ice_servers_shapes() -> None:
    urls = split_ice_urls(" stun:stun.hall.example:3478 , turn:turn.hall.example:3478?transport=udp,"
                          "turns:turn.hall.example:5349 ,")
    assert ice_servers([], "secret", "u", 0, 600) == []  # never a public default
    assert ice_servers(urls, "", "u", 0, 600) == [{"urls": ["stun:stun.hall.example:3478"]}]
    stun, turn = ice_servers(urls, "secret", "li.wei", 1000, 300)
    assert stun == {"urls": ["stun:stun.hall.example:3478"]}
    assert turn["urls"] == ["turn:turn.hall.example:3478?transport=udp", "turns:turn.hall.example:5349"]
    assert turn["username"] == "1300:li.wei"
    assert turn["credential"] == turn_credentials("secret", "li.wei", 1000, 300)[1]
    assert ice_servers(["turn:t:3478"], "secret", "u", 0, 60)[0]["urls"] == ["turn:t:3478"]


def test_ice_url_problems_are_named() -> None:
    assert ice_urls_problem("") is None
    assert ice_urls_problem("stun:a:3478,turns:b:5349") is None
    problem = ice_urls_problem("stun:a:3478,https://b")
    assert problem is not None and "https://b" in problem


def test_ice_transport_policy_and_relay_needs_turn() -> None:
    assert ice_policy_problem("all") is None and ice_policy_problem("relay") is None
    assert ice_policy_problem("RELAY") == ice_policy_problem("none") == "must be one of all, relay"
    assert not relay_without_turn("all", [], "")
    assert not relay_without_turn("relay", ["stun:s:3478", "turns:t:5349"], "secret")
    assert relay_without_turn("relay", ["turn:t:3478"], "")  # TURN is left out without a secret
    assert relay_without_turn("relay", ["stun:s:3478"], "secret")
