"""The Redis adapter of accounts: staff users, booths, login throttling, web sessions, the secret.

Key names come only from ``window_server.store.keys``. Passwords are hashed with Argon2id
(argon2-cffi's RFC 9106 low-memory profile) in a worker thread, at most ``hash_slots`` at a
time so a login flood cannot eat every thread and 64 MiB per hash. Booth tokens and web-session
tokens are 256-bit random strings: for those a single SHA-256 is the right hash (nothing to
brute-force, and a slow hash would only cost CPU on every request); only the digest is stored.

Revocation: every user and booth record has a generation, bumped (with a revocation stamp
``rw:revoked:<kind>:<id>`` = the new generation) when a user is disabled or changes password and
when a booth is revoked or re-issued; a logout writes ``rw:revoked:login:<login id>``. Connect
tokens carry the generation and the login id, so signaling refuses older tokens at connect and
ends older sockets (see ``window_server.accounts.revocation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from redis.asyncio import Redis

from window_server.domain.auth import (
    STAFF_ROLES,
    AccountDisabled,
    InvalidCredentials,
    InvalidToken,
    LoginThrottled,
    Principal,
    Role,
    check_booth_id,
    check_display_name,
    check_langs,
    check_staff_no,
    check_username,
    demo_accounts,
    demo_reviewers,
    demo_staff_no,
    is_booth_id,
    is_username,
)
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from window_server.settings import Settings
from window_server.store.client import acked_script
from window_server.store.keys import key

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; the cap only bounds the work one request costs
MAX_TOKEN_CHARS = 128
DEMO_PASSWORD = "demo1234"
"""The published password of every demo account (demo mode only; see docs/security.md)."""

# Create a record unless it exists, and add it to its index set, in one atomic step.
# KEYS[1] record hash, KEYS[2] index set; ARGV[1], ARGV[2]: an existing record is replaced only
# if its field ARGV[1] equals ARGV[2] (a revoked booth; "" never matches); ARGV[3] the index
# member; ARGV[4..] field, value pairs. The generation goes on from the replaced record's, so
# tokens of a revoked booth never match its re-issue. Returns 0, or the new generation.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0') + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gen', gen, unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[3])
return gen
"""

# Revoke what was issued so far: set fields, bump the record's generation and stamp it where
# signaling's sweep reads it, in one step. KEYS[1] record hash, KEYS[2] revocation stamp,
# KEYS[3] the revocations cue; ARGV[1] a fresh cue value, ARGV[2..] field, value pairs.
# Returns 0 (no such record) or the new generation.
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('SET', KEYS[2], gen)
redis.call('SET', KEYS[3], ARGV[1])
return gen
"""


# Login throttling. An attempt is counted *before* its password is checked, in one atomic
# step with the check of the limit, so parallel guesses cannot all slip under it; an attempt
# with the right password gives its count back. Each counted attempt re-arms the window, so a
# lock lasts a full window after the last counted failure; refused attempts are not counted,
# so a lock always ends. KEYS: the counters; ARGV[1] the limit, ARGV[2] the window (ms).
# Returns 0 (go ahead) or the ms until the first full counter expires.
_RESERVE = """
for _, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') >= tonumber(ARGV[1]) then
    local ttl = redis.call('PTTL', k)
    if ttl <= 0 then ttl = tonumber(ARGV[2]) end
    return ttl
  end
end
for _, k in ipairs(KEYS) do
  redis.call('INCR', k)
  redis.call('PEXPIRE', k, ARGV[2])
end
return 0
"""
# KEYS[1] the address counter (given back), KEYS[2] the account counter (reset), if any.
_RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return 1
"""


@dataclass(frozen=True)
class LoginPolicy:
    """Throttling and session lifetimes, from settings."""

    max_failures: int = 5
    lock_ms: int = 15 * 60_000
    session_ms: int = 12 * 3_600_000

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            lock_ms=max(1, int(settings.login_lock_minutes * 60_000)),
            session_ms=max(1, int(settings.web_session_hours * 3_600_000)),
        )


@dataclass(frozen=True)
class User:
    """A member of staff, as stored (the password hash never leaves this module)."""

    username: str
    role: Role
    centre: str
    langs: tuple[str, ...]
    name: str
    disabled: bool
    demo: bool
    created_ms: int
    generation: int
    """Bumped when the password changes or the account is disabled: older web sessions, connect
    tokens and sockets stop working."""
    staff_no: str = ""
    """The service number (工号) a citizen is shown while this specialist serves them; '' for none."""
    region: str = ""
    """A reviewer's region (GB/T 2260 code): they are invited to sessions of its matters (issue 19)."""
    department: str = ""
    """A reviewer's approving department, e.g. 黄浦区市场监督管理局 (issue 19)."""

    def principal(self) -> Principal:
        return Principal(self.role, self.username, self.centre, self.langs, self.name)

    def public(self) -> dict[str, Any]:
        """The user as shown to clients and in ``users list``: ids and display name, no secrets."""
        return {
            "username": self.username,
            "role": self.role.value,
            "centre": self.centre,
            "langs": list(self.langs),
            "name": self.name,
            "staff_no": self.staff_no,
            **({"region": self.region, "department": self.department} if self.role is Role.REVIEWER else {}),
        }


@dataclass(frozen=True)
class Booth:
    """A booth account: the kiosk page and the device agent of one booth share its token."""

    booth: str
    centre: str
    name: str
    revoked: bool
    demo: bool
    created_ms: int
    generation: int = 0
    """Bumped by a revoke and a re-issue: older connect tokens and sockets stop working."""


@dataclass(frozen=True)
class DemoLogins:
    """What demo seeding guarantees exists, for the banner and the README."""

    password: str
    users: tuple[tuple[str, Role, str], ...]
    """(username, role, centre) of every demo account."""
    booths: tuple[tuple[str, str, str], ...]
    """(booth id, centre, token) of every demo booth whose demo token still works."""


def digest(token: str) -> str:
    """SHA-256 hex of a high-entropy token (booth or web session): what Redis stores."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def login_id(token: str) -> str:
    """The login id of a web session stored without one (from before login ids were stored).

    Derived from the cookie token with a label, so it is neither the cookie nor a prefix of the
    Redis key that stores the login. New logins get a random id, kept across re-logins of the
    same user in the same browser.
    """
    return hashlib.sha256(b"rw-login-id:" + token.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def demo_booth_token(booth: str) -> str:
    """The deterministic, published token of a demo booth (demo mode only)."""
    return f"demo-{booth}"


async def signing_secret(redis: Redis, configured: str) -> bytes:
    """The connect-token key: ``RW_SECRET`` if set, else one random key shared through Redis."""
    if configured:
        return configured.encode()
    await redis.set(key("secret"), secrets.token_urlsafe(48), nx=True)
    value = await redis.get(key("secret"))
    if not value:
        raise RuntimeError("the signing secret vanished from Redis")
    return str(value).encode()


class AccountStore:
    """Users, booths, logins and web sessions in Redis."""

    def __init__(
        self,
        redis: Redis,
        catalogue: Catalogue,
        policy: LoginPolicy | None = None,
        *,
        configured_secret: str = "",
        demo: bool = False,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
        hash_slots: int | None = None,
    ) -> None:
        self.redis = redis
        self.catalogue = catalogue
        self.policy = policy or LoginPolicy()
        self.demo = demo
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._configured_secret = configured_secret
        self._secret: bytes | None = None
        self._slots = asyncio.Semaphore(hash_slots or max(1, os.cpu_count() or 1))
        self._dummy_hash: str | None = None
        self._create = redis.register_script(_CREATE)
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
        self._bump = redis.register_script(_BUMP)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def signing_key(self) -> bytes:
        """The connect-token key, resolved once (from settings or Redis) and then cached."""
        if self._secret is None:
            self._secret = await signing_secret(self.redis, self._configured_secret)
        return self._secret

    # --- passwords ---------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, pw_hash: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self.hasher.verify, pw_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    async def _burn_time(self, password: str) -> None:
        """Verify against a throwaway hash so an unknown username costs what a known one does."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
        await self._verify(self._dummy_hash, password)

    @staticmethod
    def check_password(password: str, field: str = "password") -> str:
        """Return ``password`` if it is long enough; raise InvalidInput otherwise."""
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters", field=field)
        if len(password) > MAX_PASSWORD:
            raise InvalidInput(f"a password has at most {MAX_PASSWORD} characters", field=field)
        return password

    # --- users -------------------------------------------------------------------------

    def _check_centre(self, role: Role, centre: str) -> str:
        if role in (Role.CHAIN_MANAGER, Role.REVIEWER):
            if centre:
                raise InvalidInput(f"a {role.value} belongs to no centre", field="centre")
            return ""
        if not centre:
            raise InvalidInput(f"a {role.value} needs a centre", field="centre")
        if not self.catalogue.has_centre(centre):
            raise InvalidInput(f'unknown centre "{centre}"', field="centre")
        return centre

    def _check_reviewer(self, role: Role, region: str, department: str) -> tuple[str, str]:
        """A reviewer's region (a region of the catalogue) and department (required); others have neither."""
        if role is not Role.REVIEWER:
            if region or department:
                raise InvalidInput("only a reviewer has a region and a department", field="region")
            return "", ""
        if not self.catalogue.has_region(region):
            raise InvalidInput(f'a reviewer needs the region code of the catalogue, not "{region}"', field="region")
        department = check_display_name(department, "department")
        if not department:
            raise InvalidInput("a reviewer needs their department", field="department")
        return region, department

    def _default_langs(self, centre: str) -> tuple[str, ...]:
        return self.catalogue.centre(centre).languages if centre else ("zh",)

    async def add_user(
        self,
        username: str,
        password: str,
        role: Role | str,
        centre: str = "",
        langs: tuple[str, ...] | None = None,
        name: str = "",
        staff_no: str = "",
        *,
        region: str = "",
        department: str = "",
    ) -> User:
        """Create a staff account; raise InvalidInput, or Conflict ``user_exists``."""
        user = self.validate_user(username, role, centre, langs, name, staff_no, region=region,
                                  department=department)
        self.check_password(password)
        if not await self._insert_user(user, await self._hash(password)):
            raise Conflict(f'user "{username}" already exists', code="user_exists", field="username")
        log.info("user added: user=%s role=%s centre=%s", user.username, user.role, user.centre)
        return user

    def validate_user(
        self,
        username: str,
        role: Role | str,
        centre: str = "",
        langs: tuple[str, ...] | None = None,
        name: str = "",
        staff_no: str = "",
        *,
        region: str = "",
        department: str = "",
    ) -> User:
        """Check a new account's fields (no I/O) and return it; raise InvalidInput."""
        return self._new_user(username, role, centre, langs, name, demo=False, staff_no=staff_no, region=region,
                              department=department)

    def _new_user(
        self,
        username: str,
        role: Role | str,
        centre: str,
        langs: tuple[str, ...] | None,
        name: str,
        *,
        demo: bool,
        staff_no: str = "",
        region: str = "",
        department: str = "",
    ) -> User:
        check_username(username)
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput(
                f"role must be one of {', '.join(sorted(r.value for r in STAFF_ROLES))}", field="role"
            ) from None
        if role not in STAFF_ROLES:
            raise InvalidInput("booths and devices are added with 'booths add'", field="role")
        centre = self._check_centre(role, centre)
        region, department = self._check_reviewer(role, region, department)
        langs = check_langs(tuple(langs) if langs else self._default_langs(centre))
        return User(
            username=username, role=role, centre=centre, langs=langs, name=check_display_name(name),
            disabled=False, demo=demo, created_ms=self.now_ms(), generation=1, staff_no=check_staff_no(staff_no),
            region=region, department=department,
        )

    async def _insert_user(self, user: User, pw_hash: str) -> bool:
        fields = {  # "gen" is set by the script: 1 for a new user
            "role": user.role.value, "centre": user.centre, "langs": ",".join(user.langs),
            "name": user.name, "pw": pw_hash, "disabled": "0", "demo": "1" if user.demo else "0",
            "created_ms": str(user.created_ms), "staff_no": user.staff_no,
            "region": user.region, "department": user.department,
        }
        flat = [x for kv in fields.items() for x in kv]
        done = await acked_script(  # issue 20: acknowledged once on the replicas asked for (not demo seeding)
            self.redis, self._create, [key("user", username=user.username), key("users")],
            ["", "never", user.username, *flat], durable=not user.demo,
        )
        return bool(done)

    # The client decodes replies (``store.client``): redis-py types them ``bytes | str``, they are str.
    async def _record(self, record_key: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(record_key))

    async def _index(self, index_key: str) -> list[str]:
        return sorted(cast(set[str], await self.redis.smembers(index_key)))

    async def _user_fields(self, username: str) -> dict[str, str] | None:
        if not isinstance(username, str) or not is_username(username):
            return None
        data = await self._record(key("user", username=username))
        return data or None

    @staticmethod
    def _user_from(username: str, d: dict[str, str]) -> User:
        return User(
            username=username,
            role=Role(d["role"]),
            centre=d.get("centre", ""),
            langs=tuple(x for x in d.get("langs", "").split(",") if x),
            name=d.get("name", ""),
            disabled=d.get("disabled") == "1",
            demo=d.get("demo") == "1",
            created_ms=int(d.get("created_ms", "0")),
            generation=int(d.get("gen", "1")),
            staff_no=d.get("staff_no", ""),
            region=d.get("region", ""),
            department=d.get("department", ""),
        )

    async def find_user(self, username: str) -> User | None:
        """Return the user or None."""
        d = await self._user_fields(username)
        return None if d is None else self._user_from(username, d)

    async def get_user(self, username: str) -> User:
        """Return the user; raise NotFound ``unknown_user``."""
        user = await self.find_user(username)
        if user is None:
            raise NotFound(f'no user "{username}"', code="unknown_user", field="username")
        return user

    async def list_users(self) -> list[User]:
        """Every user, sorted by username (no password hashes)."""
        names = await self._index(key("users"))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(key("user", username=name))
            records = await pipe.execute()
        return [self._user_from(n, d) for n, d in zip(names, records, strict=True) if d]

    async def _revoke(self, kind: str, subject: str, *fields: str) -> int:
        """Set ``fields`` and bump the generation: tokens and sockets issued so far end."""
        record = key("user", username=subject) if kind == "user" else key("booth_account", booth=subject)
        gen = await acked_script(  # a revocation told "done" must survive a failover (issue 20)
            self.redis, self._bump, [record, key("revoked", kind=kind, subject=subject), key("revocations")],
            [secrets.token_hex(8), *fields])
        return int(gen)

    async def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable or enable a user; disabling ends their web sessions, tokens and sockets at once."""
        await self.get_user(username)
        if disabled:
            await self._revoke("user", username, "disabled", "1")
        else:
            await self.redis.hset(key("user", username=username), "disabled", "0")
        log.info("user %s: user=%s", "disabled" if disabled else "enabled", username)
        return await self.get_user(username)

    async def set_password(self, username: str, password: str) -> None:
        """Set a new password; the user's web sessions, connect tokens and sockets end."""
        self.check_password(password)
        await self.get_user(username)
        await self._revoke("user", username, "pw", await self._hash(password))
        log.info("password changed: user=%s", username)

    # --- logins and throttling ---------------------------------------------------------

    def _fail_keys(self, username: str | None, client: str) -> list[str]:
        keys = [key("login_failures", scope="addr", subject=client or "unknown")]
        if username is not None:
            keys.append(key("login_failures", scope="user", subject=username))
        return keys

    async def authenticate(self, username: str, password: str, client: str) -> User:
        """Check a login; raise LoginThrottled, InvalidCredentials or AccountDisabled.

        Throttling comes first, so a locked account refuses even the right password until the
        window passes. Failures count per address and per (well-formed) username, known or
        not, so the lock itself does not tell which usernames exist.
        """
        well_formed = is_username(username)
        keys = self._fail_keys(username if well_formed else None, client)
        wait_ms = await self._reserve(keys=keys, args=[self.policy.max_failures, self.policy.lock_ms])
        if wait_ms:
            log.info("login refused, throttled: client=%s", client)
            raise LoginThrottled(math.ceil(int(wait_ms) / 1000))
        bad = InvalidCredentials("unknown username or wrong password")
        d = await self._user_fields(username) if well_formed else None
        if d is None or len(password) > MAX_PASSWORD:
            await self._burn_time(password[:MAX_PASSWORD])
            # never log what was typed: it may be a password typed into the username field
            log.info("login failed: unknown user, client=%s", client)
            raise bad
        if not await self._verify(d.get("pw", ""), password):
            log.info("login failed: user=%s client=%s", username, client)
            raise bad
        await self._release(keys=keys)  # the right password: this attempt was no failure
        user = self._user_from(username, d)
        if user.demo and not self.demo:
            raise AccountDisabled("demo accounts work only in demo mode")
        if user.disabled:
            raise AccountDisabled("this account is disabled; ask your centre manager")
        if self.hasher.check_needs_rehash(d["pw"]):
            await self.redis.hset(key("user", username=username), "pw", await self._hash(password))
            log.info("password rehashed with current parameters: user=%s", username)
        log.info("login: user=%s role=%s client=%s", username, user.role, client)
        return user

    async def clear_login_failures(self, username: str) -> None:
        """Lift an account's login lock now (an operator's answer to a lock-out)."""
        check_username(username)
        await self.redis.delete(key("login_failures", scope="user", subject=username))

    # --- web sessions ------------------------------------------------------------------

    async def create_web_session(self, user: User, *, replacing: str = "") -> str:
        """Start a login; return the cookie token (only its digest is stored).

        Always a fresh token (no session fixation). ``replacing`` is the browser's previous
        cookie: it ends; if it was the same user's, the new login keeps its login id, so the
        consoles that browser opened stay up now and end with the next logout; if it was another
        user's, that is their logout.
        """
        login = ""
        if replacing and len(replacing) <= MAX_TOKEN_CHARS:
            username, old_login = cast(list[str | None], await self.redis.hmget(
                key("web_session", digest=digest(replacing)), ["username", "lid"]))
            if username == user.username:
                login = old_login or login_id(replacing)
            if username is not None:  # a stale cookie has nothing left to end
                await self.end_web_session(replacing, end_sockets=username != user.username)
        token = secrets.token_urlsafe(32)
        session_key = key("web_session", digest=digest(token))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key, mapping={
                "username": user.username, "gen": str(user.generation),
                "created_ms": str(self.now_ms()), "lid": login or secrets.token_hex(12),
            })
            pipe.pexpire(session_key, self.policy.session_ms)
            await pipe.execute()
        return token

    async def web_session_user(self, token: str) -> User:
        """Return the user of a live web session; raise Unauthenticated or AccountDisabled."""
        return (await self.web_session(token))[0]

    async def web_session(self, token: str) -> tuple[User, str]:
        """Return the user of a live web session and its login id; raise like ``web_session_user``."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("log in first")
        session_key = key("web_session", digest=digest(token))
        data = await self._record(session_key)
        if not data:
            raise Unauthenticated("your login has ended; log in again")
        user = await self.find_user(data.get("username", ""))
        if user is not None and (user.disabled or (user.demo and not self.demo)):
            await self.redis.delete(session_key)
            raise AccountDisabled("this account is disabled; ask your centre manager")
        if user is None or str(user.generation) != data.get("gen"):  # e.g. the password changed
            await self.redis.delete(session_key)
            raise Unauthenticated("your login has ended; log in again")
        return user, data.get("lid") or login_id(token)

    async def end_web_session(self, token: str, *, end_sockets: bool = True) -> None:
        """Log out (idempotent): the login ends, and with ``end_sockets`` the sockets opened from it."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return
        session_key = key("web_session", digest=digest(token))
        login = cast(str | None, await self.redis.hget(session_key, "lid")) or login_id(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(session_key)
            if end_sockets:
                # kept as long as a login lasts: no socket of that login can be older
                pipe.set(key("revoked", kind="login", subject=login), "1", px=self.policy.session_ms)
                pipe.set(key("revocations"), secrets.token_hex(8))  # the sweeps' cue to look
            await pipe.execute()

    # --- booths ------------------------------------------------------------------------

    async def add_booth(self, booth: str, centre: str, name: str = "") -> tuple[Booth, str]:
        """Register a booth (or re-issue a revoked one); return it and its token, shown once."""
        return await self._add_booth(booth, centre, name, secrets.token_urlsafe(32), demo=False)

    async def _add_booth(
        self, booth: str, centre: str, name: str, token: str, *, demo: bool
    ) -> tuple[Booth, str]:
        check_booth_id(booth)
        if not self.catalogue.has_centre(centre):
            raise InvalidInput(f'unknown centre "{centre}"', field="centre")
        record = Booth(booth, centre, check_display_name(name), False, demo, self.now_ms())
        fields = {
            "centre": centre, "name": record.name, "token_sha256": digest(token), "revoked": "0",
            "demo": "1" if demo else "0", "created_ms": str(record.created_ms),
        }
        flat = [x for kv in fields.items() for x in kv]
        # A revoked booth may be re-issued (that is how a token is rotated); a live one may not.
        done = await acked_script(
            self.redis, self._create, [key("booth_account", booth=booth), key("booth_accounts")],
            ["revoked", "1", booth, *flat], durable=not demo,
        )
        if not done:
            raise Conflict(
                f'booth "{booth}" already exists; revoke it first to issue a new token',
                code="booth_exists", field="booth",
            )
        log.log(logging.DEBUG if demo else logging.INFO, "booth added: booth=%s centre=%s", booth, centre)
        return dataclasses.replace(record, generation=int(done)), token

    @staticmethod
    def _booth_from(booth: str, d: dict[str, str]) -> Booth:
        return Booth(
            booth=booth, centre=d.get("centre", ""), name=d.get("name", ""),
            revoked=d.get("revoked") == "1", demo=d.get("demo") == "1",
            created_ms=int(d.get("created_ms", "0")), generation=int(d.get("gen", "0")),
        )

    async def get_booth(self, booth: str) -> Booth:
        """Return the booth; raise NotFound ``unknown_booth``."""
        check_booth_id(booth)
        d = await self._record(key("booth_account", booth=booth))
        if not d:
            raise NotFound(f'no booth "{booth}"', code="unknown_booth", field="booth")
        return self._booth_from(booth, d)

    async def list_booths(self) -> list[Booth]:
        """Every booth, sorted by id (no token digests)."""
        ids = await self._index(key("booth_accounts"))
        async with self.redis.pipeline(transaction=False) as pipe:
            for booth in ids:
                pipe.hgetall(key("booth_account", booth=booth))
            records = await pipe.execute()
        return [self._booth_from(b, d) for b, d in zip(ids, records, strict=True) if d]

    async def revoke_booth(self, booth: str) -> Booth:
        """Revoke a booth's token, its connect tokens and its sockets at once; ``add_booth`` issues a new one."""
        await self.get_booth(booth)
        await self._revoke("booth", booth, "revoked", "1")
        log.info("booth revoked: booth=%s", booth)
        return await self.get_booth(booth)

    async def verify_booth(self, booth: str, token: str) -> Booth:
        """Return the booth if ``token`` is its live token; raise InvalidToken otherwise."""
        bad = InvalidToken("the booth token is not valid")
        if not isinstance(booth, str) or not is_booth_id(booth):
            raise bad
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise bad
        d = await self._record(key("booth_account", booth=booth))
        # Compare even when the booth is unknown, so timing says nothing about which exist.
        stored = d.get("token_sha256", "0" * 64) if d else "0" * 64
        matches = hmac.compare_digest(stored, digest(token))
        if not d or not matches or d.get("revoked") == "1":
            raise bad
        record = self._booth_from(booth, d)
        if record.demo and not self.demo:
            raise bad
        return record

    # --- demo seeding ------------------------------------------------------------------

    def _demo_staff_no(self, role: Role, centre: str) -> str:
        """A demo account's service number, from its centre: ``SH0101-01`` (specialist), -02 (team
        lead), -03 (manager); none for the chain manager."""
        n = {Role.SPECIALIST: 1, Role.TEAM_LEAD: 2, Role.MANAGER: 3}.get(role)
        if n is None or not centre:
            return ""
        return demo_staff_no(centre, self.catalogue.centre(centre).region, n)

    async def seed_demo(self) -> DemoLogins:
        """Create the demo accounts and booths if absent (idempotent); demo mode only."""
        if not self.demo:
            raise RuntimeError("demo accounts are only seeded in demo mode")
        plan = demo_accounts(self.catalogue)
        pw_hash: str | None = None
        created = 0
        for username, role, centre, name in plan:
            staff_no = self._demo_staff_no(role, centre)
            if await self.redis.exists(key("user", username=username)):
                # demo accounts seeded before service numbers existed get theirs
                await self.redis.hsetnx(key("user", username=username), "staff_no", staff_no)
                continue
            # One hash for all: they share the published password, so a shared salt hides nothing.
            pw_hash = pw_hash or await self._hash(DEMO_PASSWORD)
            user = self._new_user(username, role, centre, None, name, demo=True, staff_no=staff_no)
            created += await self._insert_user(user, pw_hash)
        for username, region, department, name in demo_reviewers(self.catalogue):  # issue 19
            plan.append((username, Role.REVIEWER, "", name))
            if await self.redis.exists(key("user", username=username)):
                continue
            pw_hash = pw_hash or await self._hash(DEMO_PASSWORD)
            user = self._new_user(username, Role.REVIEWER, "", None, name, demo=True, region=region,
                                  department=department)
            created += await self._insert_user(user, pw_hash)
        booths = []
        for c in self.catalogue.centres:
            booth = f"{c.id}-01"
            token = demo_booth_token(booth)
            if not await self.redis.exists(key("booth_account", booth=booth)):
                with contextlib.suppress(Conflict):  # another node seeding at the same moment
                    await self._add_booth(booth, c.id, f"{c.name_zh} 1号亭", token, demo=True)
                    created += 1
            try:
                await self.verify_booth(booth, token)
            except InvalidToken:
                continue  # an operator re-issued or revoked it: leave it alone, do not print it
            booths.append((booth, c.id, token))
        if created:
            log.info("demo accounts seeded: %d new", created)
        return DemoLogins(
            password=DEMO_PASSWORD,
            users=tuple((u, r, c) for u, r, c, _n in plan),
            booths=tuple(booths),
        )
