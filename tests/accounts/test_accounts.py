"""The account store against a real redis-server, and the users/booths CLI as a real process."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis

from tests.service import seal_key_file
from window_server.accounts.store import (
    DEMO_PASSWORD,
    AccountStore,
    LoginPolicy,
    User,
    demo_booth_token,
    digest,
    signing_secret,
)
from window_server.cli import running_embedded_redis
from window_server.domain.auth import (
    AccountDisabled,
    InvalidCredentials,
    InvalidToken,
    LoginThrottled,
    Principal,
    Role,
)
from window_server.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from window_server.runtime.catalogue import load_catalogue
from window_server.store.keys import key

CATALOGUE = load_catalogue(None, None)
PW = "correct horse battery"
POLICY = LoginPolicy(max_failures=3, lock_ms=60_000, session_ms=3_600_000)
PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]


def make_store(redis: Redis, **kw: object) -> AccountStore:
    kw.setdefault("policy", POLICY)
    return AccountStore(redis, CATALOGUE, **kw)  # type: ignore[arg-type]


# --- users and passwords --------------------------------------------------------------------


async def test_add_user_hashes_with_argon2id_and_authenticates(redis: Redis) -> None:
    store = make_store(redis)
    user = await store.add_user("li.wei", PW, "specialist", "sh-huangpu", ("zh",), "李伟")
    assert user.principal() == Principal(Role.SPECIALIST, "li.wei", "sh-huangpu", ("zh",), "李伟")
    stored = await redis.hgetall(key("user", username="li.wei"))
    assert stored["pw"].startswith("$argon2id$") and PW not in str(stored)
    assert await redis.smembers(key("users")) == {"li.wei"}
    got = await store.authenticate("li.wei", PW, "10.0.0.1")
    assert got.username == "li.wei" and got.role is Role.SPECIALIST
    assert "pw" not in {f for f in User.__dataclass_fields__}  # a User never carries the hash
    assert (await store.list_users())[0].public() == {
        "username": "li.wei", "role": "specialist", "centre": "sh-huangpu", "langs": ["zh"], "name": "李伟",
        "staff_no": ""}


async def test_languages_default_to_the_centre_and_chain_manager_has_no_centre(redis: Redis) -> None:
    store = make_store(redis)
    spec = await store.add_user("wang.fang", PW, Role.SPECIALIST, "sh-huangpu")
    assert spec.langs == CATALOGUE.centre("sh-huangpu").languages
    boss = await store.add_user("boss", PW, "chain_manager")
    assert (boss.centre, boss.langs) == ("", ("zh",))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("A", PW, "specialist", "sh-huangpu"), "username"),
        (("ok.name", PW, "booth", "sh-huangpu"), "role"),
        (("ok.name", PW, "root", "sh-huangpu"), "role"),
        (("ok.name", PW, "specialist", "nowhere"), "centre"),
        (("ok.name", PW, "manager", ""), "centre"),
        (("ok.name", PW, "chain_manager", "sh-huangpu"), "centre"),
        (("ok.name", "short", "specialist", "sh-huangpu"), "password"),
    ],
)
async def test_invalid_users_are_refused_with_the_field(redis: Redis, args: tuple[str, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        await make_store(redis).add_user(*args)
    assert err.value.field == field
    assert await redis.smembers(key("users")) == set()


async def test_a_username_is_taken_once(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    with pytest.raises(Conflict) as err:
        await store.add_user("li.wei", "another password", "manager", "sh-yangpu")
    assert err.value.code == "user_exists"
    assert (await store.get_user("li.wei")).role is Role.SPECIALIST


async def test_unknown_user_and_wrong_password_look_the_same(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    errors = []
    for username, password, client in [("li.wei", "wrong password", "a"), ("nobody", PW, "b"), ("NOT VALID", PW, "c")]:
        with pytest.raises(InvalidCredentials) as err:
            await store.authenticate(username, password, client)
        errors.append(err.value.to_payload())
    assert errors[0] == errors[1] == errors[2]
    assert errors[0]["error"]["code"] == "invalid_credentials"


async def test_disable_stops_logins_and_sessions_at_once(redis: Redis) -> None:
    store = make_store(redis)
    user = await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    token = await store.create_web_session(user)
    assert (await store.web_session_user(token)).username == "li.wei"
    await store.set_disabled("li.wei", True)
    with pytest.raises(AccountDisabled):
        await store.web_session_user(token)
    with pytest.raises(Unauthenticated):  # and the session is gone for good
        await store.web_session_user(token)
    with pytest.raises(AccountDisabled):
        await store.authenticate("li.wei", PW, "x")
    with pytest.raises(InvalidCredentials):  # without the password, nothing about the account
        await store.authenticate("li.wei", "wrong password", "x")
    await store.set_disabled("li.wei", False)
    assert (await store.authenticate("li.wei", PW, "x")).disabled is False
    with pytest.raises(NotFound):
        await store.set_disabled("nobody", True)


async def test_new_password_ends_old_sessions(redis: Redis) -> None:
    store = make_store(redis)
    user = await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    token = await store.create_web_session(user)
    await store.set_password("li.wei", "a brand new one")
    with pytest.raises(Unauthenticated):
        await store.web_session_user(token)
    with pytest.raises(InvalidCredentials):
        await store.authenticate("li.wei", PW, "x")
    user = await store.authenticate("li.wei", "a brand new one", "x")
    assert (await store.web_session_user(await store.create_web_session(user))).username == "li.wei"


async def test_web_session_stores_only_a_digest_with_the_session_ttl(redis: Redis) -> None:
    store = make_store(redis)
    user = await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    token = await store.create_web_session(user)
    assert len(token) >= 43
    assert await redis.keys("rw:web:*") == [key("web_session", digest=digest(token))]
    ttl = await redis.pttl(key("web_session", digest=digest(token)))
    assert POLICY.session_ms - 5_000 < ttl <= POLICY.session_ms
    await store.end_web_session(token)
    with pytest.raises(Unauthenticated):
        await store.web_session_user(token)
    for bad in ["", "x" * 500, "not-a-session"]:
        with pytest.raises(Unauthenticated):
            await store.web_session_user(bad)


async def test_old_hash_parameters_are_upgraded_on_login(redis: Redis) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    await make_store(redis, hasher=weak).add_user("li.wei", PW, "specialist", "sh-huangpu")
    before = await redis.hget(key("user", username="li.wei"), "pw")
    assert "m=8192" in before
    store = make_store(redis)
    await store.authenticate("li.wei", PW, "x")
    after = await redis.hget(key("user", username="li.wei"), "pw")
    assert after != before and not store.hasher.check_needs_rehash(after)
    await store.authenticate("li.wei", PW, "x")


# --- throttling -------------------------------------------------------------------------------


async def test_account_is_throttled_even_with_the_right_password(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    for i in range(POLICY.max_failures):  # from different addresses: the account counter trips
        with pytest.raises(InvalidCredentials):
            await store.authenticate("li.wei", "wrong password", f"10.0.0.{i}")
    with pytest.raises(LoginThrottled) as err:
        await store.authenticate("li.wei", PW, "10.9.9.9")
    assert (err.value.code, err.value.http_status) == ("login_throttled", 429)
    assert 55 <= err.value.retry_after_s <= 60
    counter = key("login_failures", scope="user", subject="li.wei")
    assert await redis.get(counter) == str(POLICY.max_failures)  # refused tries are not counted
    assert 55_000 < await redis.pttl(counter) <= POLICY.lock_ms
    await redis.pexpire(counter, 0)  # the window passes (a non-positive expiry deletes the key)
    assert (await store.authenticate("li.wei", PW, "10.9.9.9")).username == "li.wei"


async def test_parallel_guesses_cannot_slip_under_the_limit(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    results = await asyncio.gather(
        *(store.authenticate("li.wei", f"guess number {i}", f"10.2.0.{i}") for i in range(10)),
        return_exceptions=True,
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["InvalidCredentials"] * 3 + ["LoginThrottled"] * 7


async def test_unknown_usernames_lock_like_known_ones(redis: Redis) -> None:
    store = make_store(redis)  # otherwise the lock would tell which usernames exist
    for i in range(POLICY.max_failures):
        with pytest.raises(InvalidCredentials):
            await store.authenticate("no.such.user", PW, f"10.3.0.{i}")
    with pytest.raises(LoginThrottled):
        await store.authenticate("no.such.user", PW, "10.3.0.9")


async def test_address_is_throttled_across_usernames(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    for name in ("a1", "b2", "c3"):
        with pytest.raises(InvalidCredentials):
            await store.authenticate(name, PW, "203.0.113.7")
    with pytest.raises(LoginThrottled):
        await store.authenticate("li.wei", PW, "203.0.113.7")
    assert (await store.authenticate("li.wei", PW, "198.51.100.1")).username == "li.wei"
    counter = key("login_failures", scope="addr", subject="203.0.113.7")
    assert 55_000 < await redis.pttl(counter) <= POLICY.lock_ms


async def test_success_resets_the_account_counter(redis: Redis) -> None:
    store = make_store(redis)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    for client in ("a", "b"):
        with pytest.raises(InvalidCredentials):
            await store.authenticate("li.wei", "wrong password", client)
    await store.authenticate("li.wei", PW, "c")
    assert await redis.get(key("login_failures", scope="user", subject="li.wei")) is None
    for client in ("d", "e"):
        with pytest.raises(InvalidCredentials):
            await store.authenticate("li.wei", "wrong password", client)
    await store.authenticate("li.wei", PW, "f")  # 2 + 2 failures, never 3 in a row


# --- booths -----------------------------------------------------------------------------------


async def test_booth_token_is_shown_once_stored_as_digest_and_verified(redis: Redis) -> None:
    store = make_store(redis)
    booth, token = await store.add_booth("sh-huangpu-02", "sh-huangpu", "黄浦 2号亭")
    assert len(token) >= 43 and booth.centre == "sh-huangpu"
    stored = await redis.hgetall(key("booth_account", booth="sh-huangpu-02"))
    assert token not in str(stored) and stored["token_sha256"] == digest(token)
    assert (await store.verify_booth("sh-huangpu-02", token)).name == "黄浦 2号亭"
    for b, t in [("sh-huangpu-02", token[:-1] + "x"), ("sh-huangpu-03", token), ("sh-huangpu-02", ""),
                 ("../x", token), ("sh-huangpu-02", "t" * 1000)]:
        with pytest.raises(InvalidToken):
            await store.verify_booth(b, t)
    with pytest.raises(Conflict) as err:
        await store.add_booth("sh-huangpu-02", "sh-huangpu")
    assert err.value.code == "booth_exists"


async def test_revoke_and_reissue(redis: Redis) -> None:
    store = make_store(redis)
    _, old = await store.add_booth("sh-huangpu-02", "sh-huangpu")
    assert (await store.revoke_booth("sh-huangpu-02")).revoked
    with pytest.raises(InvalidToken):
        await store.verify_booth("sh-huangpu-02", old)
    _, new = await store.add_booth("sh-huangpu-02", "sh-huangpu")
    assert new != old
    await store.verify_booth("sh-huangpu-02", new)
    with pytest.raises(InvalidToken):
        await store.verify_booth("sh-huangpu-02", old)
    assert [b.booth for b in await store.list_booths()] == ["sh-huangpu-02"]
    with pytest.raises(InvalidInput):
        await store.add_booth("sh-nowhere-01", "nowhere")
    with pytest.raises(NotFound):
        await store.revoke_booth("zz-01")


# --- the signing secret ---------------------------------------------------------------------


async def test_signing_secret_is_configured_or_shared_through_redis(redis: Redis) -> None:
    assert await signing_secret(redis, "configured-secret") == b"configured-secret"
    assert await redis.get(key("secret")) is None
    first = await signing_secret(redis, "")
    assert len(first) >= 48 and await signing_secret(redis, "") == first
    assert await make_store(redis).signing_key() == first  # every node gets the same key


# --- demo seeding -----------------------------------------------------------------------------


async def test_demo_seeding_is_idempotent_and_works_only_in_demo_mode(redis: Redis) -> None:
    demo = make_store(redis, demo=True)
    seeded = await demo.seed_demo()
    users = await redis.smembers(key("users"))
    # + hall staff, one per centre; + a reviewer per region that owns matters (issue 19)
    assert len(users) == 22 + 4 + 4 + 22 + 1 + 22 and len(seeded.users) == len(users)
    reviewer = await demo.authenticate("review-310101", DEMO_PASSWORD, "x")
    assert (reviewer.role, reviewer.centre, reviewer.region) == (Role.REVIEWER, "", "310101")
    assert reviewer.department == "黄浦区市场监督管理局" and reviewer.public()["department"] == reviewer.department
    assert len(seeded.booths) == 22 and ("sh-huangpu-01", "sh-huangpu", "demo-sh-huangpu-01") in seeded.booths
    snapshot = {u: await redis.hgetall(key("user", username=u)) for u in users}
    again = await make_store(redis, demo=True).seed_demo()
    assert again == seeded
    assert {u: await redis.hgetall(key("user", username=u)) for u in users} == snapshot
    user = await demo.authenticate("spec-sh-huangpu", DEMO_PASSWORD, "x")
    assert user.principal().role is Role.SPECIALIST and user.demo
    assert (await demo.authenticate("chain-manager", DEMO_PASSWORD, "x")).role is Role.CHAIN_MANAGER
    await demo.verify_booth("sh-huangpu-01", demo_booth_token("sh-huangpu-01"))
    session = await demo.create_web_session(user)

    real = make_store(redis, demo=False)  # the same Redis after RW_DEMO=false
    with pytest.raises(RuntimeError):
        await real.seed_demo()
    with pytest.raises(AccountDisabled):
        await real.authenticate("spec-sh-huangpu", DEMO_PASSWORD, "x")
    with pytest.raises(AccountDisabled):
        await real.web_session_user(session)
    with pytest.raises(InvalidToken):
        await real.verify_booth("sh-huangpu-01", demo_booth_token("sh-huangpu-01"))


async def test_seeding_leaves_an_operators_changes_alone(redis: Redis) -> None:
    store = make_store(redis, demo=True)
    await store.seed_demo()
    await store.revoke_booth("sh-huangpu-01")
    await store.set_password("spec-sh-huangpu", "operator changed it")
    seeded = await store.seed_demo()
    assert "sh-huangpu-01" not in [b[0] for b in seeded.booths]
    await store.authenticate("spec-sh-huangpu", "operator changed it", "x")


# --- the CLI, as a real process -----------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_") and k != "REDIS_URL"}
    env["RW_EVIDENCE_KEY"] = str(seal_key_file())  # RW_DEMO=false requires a seal key
    env.update(extra)
    return env


async def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "window_server", *args, env=env, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_users_add_list_disable(redis: Redis, redis_url: str) -> None:
    env = _env(REDIS_URL=redis_url)
    code, out, err = await cli("users", "add", "li.wei", "--role", "specialist", "--centre", "sh-huangpu",
                               "--langs", "zh,en", "--name", "李伟", "--password-stdin", env=env, stdin=PW + "\n")
    assert (code, err) == (0, ""), err
    assert "li.wei" in out and PW not in out
    store = make_store(redis)
    assert (await store.authenticate("li.wei", PW, "x")).langs == ("zh", "en")

    code, out, _ = await cli("users", "list", env=env)
    assert code == 0 and re.search(r"li\.wei\s+specialist\s+sh-huangpu\s+zh,en\s+active\s+李伟", out)
    assert "argon2" not in out

    code, _, err = await cli("users", "add", "li.wei", "--role", "specialist", "--centre", "sh-huangpu",
                             "--password-stdin", env=env, stdin=PW + "\n")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1

    assert (await cli("users", "disable", "li.wei", env=env))[0] == 0
    with pytest.raises(AccountDisabled):
        await store.authenticate("li.wei", PW, "x")
    assert (await cli("users", "enable", "li.wei", env=env))[0] == 0
    await store.authenticate("li.wei", PW, "x")

    code, _, _ = await cli("users", "passwd", "li.wei", "--password-stdin", env=env, stdin="next password\n")
    assert code == 0
    await store.authenticate("li.wei", "next password", "x")
    for i in range(POLICY.max_failures):
        with pytest.raises(InvalidCredentials):
            await store.authenticate("li.wei", "wrong password", f"10.4.0.{i}")
    with pytest.raises(LoginThrottled):
        await store.authenticate("li.wei", "next password", "10.4.0.9")
    assert (await cli("users", "unlock", "li.wei", env=env))[0] == 0
    await store.authenticate("li.wei", "next password", "10.4.0.9")
    code, _, err = await cli("users", "disable", "nobody", env=env)
    assert code == 1 and "nobody" in err


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("users", "add", "x.y", "--role", "specialist", "--centre", "nowhere", "--password-stdin"), PW, "centre"),
        (("users", "add", "x.y", "--role", "booth", "--centre", "sh-huangpu", "--password-stdin"), PW, "role"),
        (("users", "add", "X", "--role", "specialist", "--centre", "sh-huangpu", "--password-stdin"), PW, "username"),
        (("users", "add", "x.y", "--role", "specialist", "--centre", "sh-huangpu", "--password-stdin"), "short", "password"),
        (("users", "add", "x.y", "--role", "specialist", "--centre", "sh-huangpu", "--password", PW), None, "--password"),
        (("users", "add", "x.y", "--role", "specialist", "--centre", "sh-huangpu"), None, "--password-stdin"),
        (("users", "add", "x.y", "--role", "specialist", "--centre", "sh-huangpu", "--passw", PW), None, "unrecognized"),
        (("users", "frobnicate"), None, "frobnicate"),
        (("booths", "add", "Bad Id", "--centre", "sh-huangpu"), None, "booth"),
    ],
)
async def test_cli_bad_usage_is_exit_2_with_one_line(
    redis: Redis, redis_url: str, args: tuple[str, ...], stdin: str | None, needle: str
) -> None:
    code, out, err = await cli(*args, env=_env(REDIS_URL=redis_url), stdin=stdin)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and needle in lines[0], err
    assert PW not in err + out
    assert await redis.smembers(key("users")) == set()


async def test_cli_booths_add_prints_the_token_once_and_revoke_works(redis: Redis, redis_url: str) -> None:
    env = _env(REDIS_URL=redis_url)
    code, out, err = await cli("booths", "add", "sh-huangpu-02", "--centre", "sh-huangpu", "--name", "2号亭", env=env)
    assert code == 0 and "shown this once" in err
    token = out.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    store = make_store(redis)
    await store.verify_booth("sh-huangpu-02", token)
    code, out, _ = await cli("booths", "list", env=env)
    assert code == 0 and "sh-huangpu-02" in out and token not in out and "active" in out
    assert (await cli("booths", "revoke", "sh-huangpu-02", env=env))[0] == 0
    with pytest.raises(InvalidToken):
        await store.verify_booth("sh-huangpu-02", token)
    assert "revoked" in (await cli("booths", "list", env=env))[1]


async def test_cli_without_redis_url_uses_the_embedded_redis(tmp_path: Path) -> None:
    env = _env()
    data = str(tmp_path / "var")
    code, _, err = await cli("users", "add", "li.wei", "--role", "manager", "--centre", "sh-yangpu",
                             "--password-stdin", "--data-dir", data, env=env, stdin=PW + "\n")
    assert code == 0, err
    code, out, err = await cli("users", "list", "--data-dir", data, env=env)
    assert code == 0 and "li.wei" in out, err  # kept in the embedded Redis's AOF
    assert running_embedded_redis(tmp_path / "var" / "redis") is None  # and that server is stopped


async def test_cli_talks_to_the_running_services_embedded_redis(tmp_path: Path) -> None:
    data = str(tmp_path / "var")
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "window_server", "--port", "0", "--data-dir", data, "--demo", "false",
        env=_env(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not (m := re.search(r"running at (http://\S+)", (await proc.stdout.readline()).decode())):
                pass
        url = m.group(1)
        assert running_embedded_redis(tmp_path / "var" / "redis") is not None
        code, _, err = await cli("users", "add", "li.wei", "--role", "specialist", "--centre", "sh-huangpu",
                                 "--password-stdin", "--data-dir", data, env=_env(), stdin=PW + "\n")
        assert code == 0, err
        async with aiohttp.ClientSession() as http, http.post(
            url + "/api/login", json={"username": "li.wei", "password": PW}
        ) as resp:
            assert resp.status == 200, await resp.text()
    finally:
        proc.terminate()
        await proc.wait()
