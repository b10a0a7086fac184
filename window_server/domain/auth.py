"""Who may do what: roles, principals, signed connect tokens and TURN REST credentials.

Pure: stdlib only, no randomness and no clock. Callers pass ``now_ms``/``now_s`` and a fresh
nonce (``secrets.token_urlsafe``) in, so every rule here is tested without an event loop.

A connect token is ``base64url(json claims) "." base64url(HMAC-SHA256(key, first part))``.
It is short-lived (at most ``MAX_CONNECT_TOKEN_SECONDS``), bound to one namespace, and carries
only ids: role, username or booth id, centre id, languages, expiry, a nonce, the account's
generation and (staff) a login id. Never a password, a display name, an ID number or key
material. Signaling spends the nonce at connect (single use) and checks the account, its
generation and the login against Redis (``admit``); ``revoked_since`` is the rule its sweep of
open sockets applies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from window_server.domain.catalogue import Catalogue, Level
from window_server.domain.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated

MAX_CONNECT_TOKEN_SECONDS = 300
MAX_TURN_TTL_SECONDS = 600
MAX_TOKEN_CHARS = 2048
CLOCK_SKEW_MS = 60_000
"""Tolerated clock difference between the node that signs and the node that verifies."""

_TOKEN_VERSION = 2  # 2: adds the account generation "gen" and the login id "lid"
# Domain separation: the configured secret is never used directly as an HMAC key, so the
# same secret could later sign something else without a token of one kind passing as another.
_CONNECT_KEY_LABEL = b"remote-window/connect-token/v1"

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
BOOTH_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_BOOTH_ID = 64
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
MAX_LANGS = 8
MAX_NAME = 64
_LONG_DIGITS = re.compile(r"[0-9]{15,}")  # a resident ID number (15 or 18 digits) in a name
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


# --- errors -------------------------------------------------------------------------------


class InvalidToken(Unauthenticated):
    """The token is malformed, forged, revoked or for someone else."""

    code = "invalid_token"


class TokenExpired(Unauthenticated):
    """The token was genuine but its lifetime is over: fetch a fresh one."""

    code = "token_expired"


class TokenUsed(Unauthenticated):
    """The token's nonce was spent by an earlier connect: tokens are single use."""

    code = "token_used"


class TokenRevoked(Unauthenticated):
    """The account or login was revoked after the token was issued (disable, password change,
    booth revoke, logout): fetch a new token, if the account still may."""

    code = "token_revoked"


class UnknownAccount(Unauthenticated):
    """A validly signed token for a user or booth that does not exist (or not in this role)."""

    code = "unknown_account"


class WrongNamespace(Forbidden):
    """The principal may not open this socket.io namespace (or the token is for another)."""

    code = "wrong_namespace"


class InvalidCredentials(Unauthenticated):
    """Unknown username or wrong password: one message for both."""

    code = "invalid_credentials"


class AccountDisabled(Forbidden):
    """The account is disabled (or a demo account outside demo mode)."""

    code = "account_disabled"


class LoginThrottled(RateLimited):
    """Too many failed logins for this account or address; ``retry_after_s`` says how long."""

    code = "login_throttled"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after_s = max(1, retry_after_s)


# --- roles and principals -----------------------------------------------------------------


class Role(StrEnum):
    """What a principal is: a member of staff, a booth's kiosk page or a booth's device agent."""

    SPECIALIST = "specialist"
    TEAM_LEAD = "team_lead"
    MANAGER = "manager"
    CHAIN_MANAGER = "chain_manager"
    HALL_STAFF = "hall_staff"
    """大厅工作人员: the hall's own staff of one centre: its call display and help calls, no namespace."""
    REVIEWER = "reviewer"
    """审批部门工作人员 (issue 19): an approving department's officer of one region, tied to no centre; joins a
    live session only when its specialist invites them (三方会商), on /guest."""
    BOOTH = "booth"
    DEVICE = "device"


STAFF_ROLES: frozenset[Role] = frozenset(
    {Role.SPECIALIST, Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER, Role.HALL_STAFF, Role.REVIEWER}
)
"""Roles that log in with a username and password (web session cookie)."""

BOOTH_ROLES: frozenset[Role] = frozenset({Role.BOOTH, Role.DEVICE})
"""Roles that authenticate with a booth's bearer token."""

NAMESPACES: tuple[str, ...] = ("/booth", "/device", "/agent", "/dashboard", "/guest")

_MAY_OPEN: dict[Role, frozenset[str]] = {
    Role.BOOTH: frozenset({"/booth"}),
    Role.DEVICE: frozenset({"/device"}),
    Role.SPECIALIST: frozenset({"/agent"}),
    Role.TEAM_LEAD: frozenset({"/agent", "/dashboard", "/guest"}),
    Role.MANAGER: frozenset({"/dashboard", "/guest"}),
    Role.CHAIN_MANAGER: frozenset({"/dashboard", "/guest"}),
    Role.HALL_STAFF: frozenset(),  # the hall pages poll over HTTP (window_server/hall/)
    Role.REVIEWER: frozenset({"/guest"}),  # issue 19: joins invited sessions (window_server/guests/)
}

MEDIA_NAMESPACES: frozenset[str] = frozenset({"/booth", "/device", "/agent", "/guest"})
"""Namespaces whose clients make WebRTC calls and so receive ICE (TURN) servers."""


@dataclass(frozen=True)
class Principal:
    """An authenticated party: a member of staff, a booth page or a booth's device agent."""

    role: Role
    subject: str
    """The username (staff) or booth id (booth, device)."""
    centre: str
    """The centre id; "" for a chain manager, who belongs to every centre."""
    langs: tuple[str, ...] = ()
    name: str = ""
    """Display name for screens; never an ID number, never in tokens or logs."""


def may_open(role: Role, namespace: str) -> bool:
    """Return whether ``role`` may open the socket.io ``namespace``."""
    return namespace in _MAY_OPEN.get(role, frozenset())


def namespaces_for(role: Role) -> frozenset[str]:
    """Return the namespaces ``role`` may open."""
    return _MAY_OPEN.get(role, frozenset())


def namespace_for_booth_role(role: Role) -> str:
    """Return the one namespace of a booth-side role (booth → /booth, device → /device)."""
    if role not in BOOTH_ROLES:
        raise ValueError(f"{role} is not a booth-side role")
    return f"/{role.value}"


# --- permissions used by signaling and the dashboards ---------------------------------------


def can_manage_centre(principal: Principal, centre_id: str) -> bool:
    """Chain managers manage every centre; managers and team leads their own centre."""
    if principal.role is Role.CHAIN_MANAGER:
        return True
    if principal.role in (Role.MANAGER, Role.TEAM_LEAD):
        return principal.centre == centre_id
    return False


HALL_ROLES: frozenset[Role] = frozenset({Role.HALL_STAFF, Role.TEAM_LEAD, Role.MANAGER, Role.CHAIN_MANAGER})
"""Roles that may open a hall's call display and help-call view (``can_use_hall``)."""


def can_use_hall(principal: Principal, centre_id: str) -> bool:
    """Hall staff, team leads and managers use their own centre's hall pages; chain managers any."""
    if principal.role is Role.CHAIN_MANAGER:
        return True
    return principal.role in HALL_ROLES and bool(centre_id) and principal.centre == centre_id


def can_serve(principal: Principal) -> bool:
    """Return whether the principal takes calls from the queue (specialists and team leads)."""
    return principal.role in (Role.SPECIALIST, Role.TEAM_LEAD)


def visible_centres(principal: Principal, all_centres: tuple[str, ...]) -> tuple[str, ...]:
    """Return the centres whose dashboards the principal may see, in the given order."""
    return tuple(c for c in all_centres if can_manage_centre(principal, c))


# --- identifiers --------------------------------------------------------------------------


def is_username(value: object) -> bool:
    """Return whether ``value`` is a well-formed username."""
    return isinstance(value, str) and USERNAME.fullmatch(value) is not None


def is_booth_id(value: object) -> bool:
    """Return whether ``value`` is a well-formed booth id."""
    return isinstance(value, str) and len(value) <= MAX_BOOTH_ID and BOOTH_ID.fullmatch(value) is not None


def check_username(value: str, field: str = "username") -> str:
    """Return ``value`` if it is a valid username; raise InvalidInput otherwise."""
    if not is_username(value):
        raise InvalidInput(
            "a username is 2-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return value


def check_booth_id(value: str, field: str = "booth") -> str:
    """Return ``value`` if it is a valid booth id such as ``sh-huangpu-01``; raise InvalidInput."""
    if not is_booth_id(value):
        raise InvalidInput(
            f"a booth id is lower-case letters and digits in groups joined by '-', "
            f"at most {MAX_BOOTH_ID} characters (e.g. sh-huangpu-01)",
            field=field,
        )
    return value


def check_langs(values: tuple[str, ...], field: str = "langs") -> tuple[str, ...]:
    """Return language tags (``zh``, ``en``, ``zh-Hant``…) without duplicates; raise InvalidInput."""
    out: list[str] = []
    for v in values:
        if not LANGUAGE.fullmatch(v):
            raise InvalidInput(f'"{v}" is not a language tag such as zh or en', field=field)
        if v not in out:
            out.append(v)
    if not out:
        raise InvalidInput("give at least one language", field=field)
    if len(out) > MAX_LANGS:
        raise InvalidInput(f"at most {MAX_LANGS} languages", field=field)
    return tuple(out)


def check_display_name(value: str, field: str = "name") -> str:
    """Return a trimmed display name; refuse control characters and anything like an ID number."""
    value = value.strip()
    if len(value) > MAX_NAME:
        raise InvalidInput(f"a name is at most {MAX_NAME} characters", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInput("a name may not contain control characters", field=field)
    if _LONG_DIGITS.search(value):
        raise InvalidInput("a display name may not contain an ID number", field=field)
    return value


#: A specialist's service number (工号), shown to the citizen: letters, digits and dashes.
STAFF_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,23}")


def check_staff_no(value: str, field: str = "staff_no") -> str:
    """Return a trimmed service number ('' for none); refuse anything but letters, digits and dashes."""
    value = value.strip()
    if value and not STAFF_NO.fullmatch(value):
        raise InvalidInput("a service number is 1-24 letters, digits or dashes, e.g. SH0101-01", field=field)
    if _LONG_DIGITS.search(value):
        raise InvalidInput("a service number may not be an ID number", field=field)
    return value


def demo_staff_no(centre_id: str, region_code: str, n: int) -> str:
    """The demo service number of a centre's ``n``-th demo account: ``SH0101-01`` (province letters,
    the region code's last four digits, the account's number)."""
    prefix = re.sub(r"[^A-Za-z]", "", centre_id.split("-", 1)[0]).upper()[:4] or "RW"
    return f"{prefix}{region_code[-4:]}-{n:02d}"


# --- demo accounts ------------------------------------------------------------------------


def demo_accounts(catalogue: Catalogue) -> list[tuple[str, Role, str, str]]:
    """(username, role, centre, display name) of the demo accounts for ``catalogue``.

    One specialist per centre (``spec-<centre>``); a team lead (``lead-<centre>``) and a
    manager (``mgr-<centre>``) for the first city or district centre of each province; one
    hall staff account (``hall-<centre>``) per centre (each has a demo booth); one chain manager
    (``chain-manager``). Usernames a custom chain's long ids would make invalid
    are left out.
    """
    plan: list[tuple[str, Role, str, str]] = []
    leads: dict[str, str] = {}
    for c in catalogue.centres:
        plan.append((f"spec-{c.id}", Role.SPECIALIST, c.id, f"演示专员·{c.name_zh}"))
        if c.level is not Level.PROVINCE:
            leads.setdefault(c.province, c.id)
    for centre_id in leads.values():
        c = catalogue.centre(centre_id)
        plan.append((f"lead-{c.id}", Role.TEAM_LEAD, c.id, f"演示组长·{c.name_zh}"))
        plan.append((f"mgr-{c.id}", Role.MANAGER, c.id, f"演示管理员·{c.name_zh}"))
    for c in catalogue.centres:  # every centre has a demo booth, so a hall
        plan.append((f"hall-{c.id}", Role.HALL_STAFF, c.id, f"演示大厅工作人员·{c.name_zh}"))
    plan.append(("chain-manager", Role.CHAIN_MANAGER, "", "演示总管理员"))
    return [p for p in plan if is_username(p[0])]


def demo_reviewers(catalogue: Catalogue) -> list[tuple[str, str, str, str]]:
    """(username, region, department, display name) of the demo reviewers (issue 19).

    One per region that owns matters (``review-<region code>``), of the department of that region's
    first matter by code; a specialist invites the reviewers of the session's matter's region.
    """
    first: dict[str, str] = {}
    for m in sorted(catalogue.matters, key=lambda m: m.code):
        first.setdefault(m.home_region, m.department)
    plan = [(f"review-{region}", region, dept, f"演示审批·{catalogue.region(region).name_zh}")
            for region, dept in sorted(first.items()) if catalogue.has_region(region)]
    return [p for p in plan if is_username(p[0])]


# --- connect tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectToken:
    """A verified connect token: who, for which namespace, until when, and its nonce."""

    principal: Principal
    namespace: str
    issued_ms: int
    expires_ms: int
    nonce: str
    gen: int = 0
    """The account's generation when the token was issued (see ``revoked_since``)."""
    login: str = ""
    """The id of the web login the token was issued from ("" for booths and devices)."""


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _connect_key(secret: bytes) -> bytes:
    if not secret:
        raise ValueError("the signing secret is empty")
    return hmac.new(secret, _CONNECT_KEY_LABEL, hashlib.sha256).digest()


def token_lifetime_ms(lifetime_s: float) -> int:
    """Return a connect token lifetime in ms, capped at ``MAX_CONNECT_TOKEN_SECONDS``."""
    if not lifetime_s > 0:
        raise ValueError("a token lifetime must be greater than 0")
    return int(min(lifetime_s, MAX_CONNECT_TOKEN_SECONDS) * 1000)


def sign_connect_token(
    secret: bytes, principal: Principal, namespace: str, now_ms: int, lifetime_s: float, nonce: str,
    *, gen: int = 0, login: str = "",
) -> str:
    """Return a token that lets ``principal`` open ``namespace`` for at most 300 seconds.

    ``gen`` is the account's current generation and ``login`` the web login's id (staff).
    """
    if not may_open(principal.role, namespace):
        raise WrongNamespace(f"a {principal.role.value} may not open {namespace}")
    if not nonce or len(nonce) > 64:
        raise ValueError("a nonce of 1-64 characters is required")
    if len(login) > 64 or gen < 0:
        raise ValueError("a login id has at most 64 characters and a generation is 0 or more")
    claims = {
        "v": _TOKEN_VERSION,
        "role": principal.role.value,
        "sub": principal.subject,
        "ctr": principal.centre,
        "langs": list(principal.langs),
        "ns": namespace,
        "iat": now_ms,
        "exp": now_ms + token_lifetime_ms(lifetime_s),
        "nonce": nonce,
        "gen": gen,
        "lid": login,
    }
    body = _b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_connect_key(secret), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64e(mac)}"


def _claims(secret: bytes, token: str) -> dict[str, Any]:
    """Check the signature first (nothing of a forged token is looked at), then parse."""
    bad = InvalidToken("the connect token is not valid")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise bad
    body, sig = token.split(".")
    if not (_B64URL.fullmatch(body) and _B64URL.fullmatch(sig)):
        raise bad
    expected = hmac.new(_connect_key(secret), body.encode("ascii"), hashlib.sha256).digest()
    # Compare the canonical encoding, so exactly one spelling of a signature is accepted.
    if not hmac.compare_digest(sig.encode("ascii"), _b64e(expected).encode("ascii")):
        raise bad
    try:
        claims = json.loads(_b64d(body))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad from None
    if not isinstance(claims, dict) or claims.get("v") != _TOKEN_VERSION:
        raise bad
    return claims


def read_connect_token(secret: bytes, token: str, namespace: str, now_ms: int) -> ConnectToken:
    """Verify ``token`` for ``namespace`` at ``now_ms``; raise InvalidToken, TokenExpired or WrongNamespace."""
    claims = _claims(secret, token)
    bad = InvalidToken("the connect token is not valid")
    try:
        role = Role(claims["role"])
        sub, centre, ns, nonce = claims["sub"], claims["ctr"], claims["ns"], claims["nonce"]
        iat, exp, langs = claims["iat"], claims["exp"], claims["langs"]
        gen, lid = claims["gen"], claims["lid"]
    except (KeyError, ValueError, TypeError):
        raise bad from None
    if not all(isinstance(v, str) for v in (sub, centre, ns, nonce, lid)):
        raise bad
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp, gen)):
        raise bad
    if not isinstance(langs, list) or not all(isinstance(v, str) for v in langs):
        raise bad
    if exp - iat > MAX_CONNECT_TOKEN_SECONDS * 1000 or iat > now_ms + CLOCK_SKEW_MS:
        raise bad
    if now_ms >= exp:
        raise TokenExpired("the connect token has expired; ask for a new one")
    if ns != namespace or not may_open(role, namespace):
        raise WrongNamespace(f"this token is not for {namespace}")
    principal = Principal(role=role, subject=sub, centre=centre, langs=tuple(langs))
    return ConnectToken(principal, ns, iat, exp, nonce, gen, lid)


def verify_connect_token(secret: bytes, token: str, namespace: str, now_ms: int) -> Principal:
    """Return the principal of a valid token for ``namespace``; raise the token errors otherwise."""
    return read_connect_token(secret, token, namespace, now_ms).principal


# --- single use and revocation (the rules; signaling's store adapter reads Redis for them) ------


@dataclass(frozen=True)
class AccountRecord:
    """What Redis holds of a token's account when it connects: a staff user or a booth."""

    role: str
    """The user's role; "" for a booth (its page and its device agent share the record)."""
    centre: str
    blocked: bool
    """A disabled user or a revoked booth."""
    demo: bool
    gen: int
    """Bumped by a disable, a password change, a booth revoke or re-issue."""


def account_of(principal: Principal) -> tuple[str, str]:
    """The (kind, id) of the account behind a principal: ("user", username) or ("booth", booth id)."""
    return ("booth" if principal.role in BOOTH_ROLES else "user", principal.subject)


def nonce_ttl_ms(token: ConnectToken, now_ms: int) -> int:
    """How long a spent nonce must be remembered: until no node would accept its token any more."""
    return max(1, token.expires_ms - now_ms + CLOCK_SKEW_MS)


def admit(
    token: ConnectToken, record: AccountRecord | None, *, nonce_fresh: bool, login_ended: bool,
    demo_mode: bool,
) -> None:
    """Decide a connect after the signature: raise TokenUsed, UnknownAccount, AccountDisabled or TokenRevoked.

    A token connects once; its account must exist in the token's role and centre, not be disabled
    or revoked (nor a demo account outside demo mode), still be in the generation the token was
    issued in, and the web login it came from must not have ended.
    """
    if not nonce_fresh:
        raise TokenUsed("this connect token was used already; fetch a new one for every connect")
    p = token.principal
    expected_role = "" if p.role in BOOTH_ROLES else p.role.value
    if record is None or record.role != expected_role or record.centre != p.centre:
        raise UnknownAccount("the connect token names no such account")
    if record.demo and not demo_mode:
        raise AccountDisabled("demo accounts work only in demo mode")
    if record.blocked and p.role not in BOOTH_ROLES:
        raise AccountDisabled("this account is disabled; ask your centre manager")
    if record.blocked or record.gen != token.gen or login_ended:
        raise TokenRevoked("this connect token was revoked; fetch a new one")


def revoked_since(stamp: str | None, gen: int) -> bool:
    """Whether an open socket whose token was of generation ``gen`` must end.

    A revocation stamp holds the lowest generation still valid (users and booths; written with
    the bump of the record), or any value for an ended login.
    """
    if stamp is None:
        return False
    try:
        return int(stamp) > gen
    except ValueError:
        return True


# --- the signing secret ---------------------------------------------------------------------

# Words of five letters or more: a random secret contains one by chance far less than once in
# a million; shorter ones ("test", "your") would refuse a genuinely random one now and then.
_PLACEHOLDER_WORDS = (
    "change", "example", "placeholder", "replace", "secret", "password", "passw0rd", "default",
    "dummy", "sample", "insecure",
)
_HEX = re.compile(r"[0-9a-fA-F]+")
MIN_SECRET_BITS = 256


def _longest_run(text: str) -> int:
    """The longest run of consecutive code points, rising or falling ("01234", "fedcb")."""
    best = run = 1
    step = 0
    for a, b in zip(text, text[1:], strict=False):
        d = ord(b) - ord(a)
        if d in (1, -1):
            run, step = (run + 1 if d == step else 2), d
        else:
            run, step = 1, 0
        best = max(best, run)
    return best


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign connect tokens (None if it looks like 32 random bytes).

    A heuristic, not a proof: long enough for 256 bits in its alphabet (64 hex or 43 base64
    characters, 43 of anything else), no placeholder words, at least 12 distinct characters,
    not a repeated pattern and no long run such as "0123456789".
    """
    fix = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
    lowered = secret.lower()
    for word in _PLACEHOLDER_WORDS:
        if word in lowered:
            return f'it contains "{word}", so it looks like a placeholder; {fix}'
    bits = 4 if _HEX.fullmatch(secret) else 6
    if len(secret) * bits < MIN_SECRET_BITS:
        need = -(-MIN_SECRET_BITS // bits)
        kind = "hex " if bits == 4 else ""
        return f"it is shorter than 32 random bytes (at least {need} {kind}characters); {fix}"
    if len(set(secret)) < 12:
        return f"it has only {len(set(secret))} distinct characters, too few to be random; {fix}"
    for period in range(1, len(secret) // 2 + 1):
        if secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)]:
            return f"it repeats a pattern of {period} characters; {fix}"
    if _longest_run(secret) >= 8:
        return f"it contains a run of consecutive characters such as 0123456789; {fix}"
    return None


# --- TURN REST credentials (draft-uberti-behave-turn-rest, coturn use-auth-secret) -----------


def turn_credentials(secret: str, user: str, now_s: int, ttl_s: float) -> tuple[str, str]:
    """Return (username, credential): ``"<expiry>:<user>"`` and base64(HMAC-SHA1(secret, username))."""
    if not secret:
        raise ValueError("no TURN secret")
    if not ttl_s > 0:
        raise ValueError("a TURN credential lifetime must be greater than 0")
    if ":" in user:  # coturn splits the username at the first ':' (rest-api-separator)
        raise ValueError("the TURN user part may not contain ':'")
    expiry = now_s + int(min(ttl_s, MAX_TURN_TTL_SECONDS))
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def split_ice_urls(raw: str) -> list[str]:
    """Split the comma-separated ICE URL setting; raise ValueError naming a URL of unknown scheme."""
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    for url in urls:
        if not url.lower().startswith(_ICE_SCHEMES):
            raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
    return urls


def ice_urls_problem(raw: str) -> str | None:
    """The settings-table check for ``RW_ICE_SERVERS``: a problem message or None."""
    try:
        split_ice_urls(raw)
    except ValueError as exc:
        return str(exc)
    return None


ICE_TRANSPORT_POLICIES = ("all", "relay")
"""RTCIceTransportPolicy values: ``relay`` makes every peer use TURN-relayed candidates only."""


def ice_policy_problem(policy: str) -> str | None:
    """The settings-table check for ``RW_ICE_TRANSPORT_POLICY``: a problem message or None."""
    return None if policy in ICE_TRANSPORT_POLICIES else f"must be one of {', '.join(ICE_TRANSPORT_POLICIES)}"


def relay_without_turn(policy: str, urls: list[str], turn_secret: str) -> bool:
    """True when ``relay`` is asked but no TURN server can be handed out: no call would connect."""
    has_turn = any(u.lower().startswith(("turn:", "turns:")) for u in urls)
    return policy == "relay" and not (has_turn and turn_secret)


def ice_servers(
    urls: list[str], turn_secret: str, user: str, now_s: int, ttl_s: float
) -> list[dict[str, Any]]:
    """Return RTCIceServer dicts: STUN as given; TURN with fresh credentials, only if a secret is set.

    Browsers reject a turn:/turns: server without username and credential (InvalidAccessError),
    so without a secret TURN URLs are left out rather than breaking the peer connection.
    Never a public default: no URLs, no servers (host candidates only).
    """
    stun = [u for u in urls if u.lower().startswith(("stun:", "stuns:"))]
    turn = [u for u in urls if u.lower().startswith(("turn:", "turns:"))]
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": stun})
    if turn and turn_secret:
        username, credential = turn_credentials(turn_secret, user, now_s, ttl_s)
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers
