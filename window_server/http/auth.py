"""Login, logout, who am I, and socket.io connect tokens for staff and booths.

Handlers only parse, call the account store or the pure token functions, and dump. Every
error is a ``RemoteWindowError`` turned into the one shape by the error middleware; the only
exception is 429, answered here because it carries a ``Retry-After`` header.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from window_server.accounts.store import AccountStore, User
from window_server.appkeys import ACCOUNTS, SETTINGS
from window_server.domain.auth import (
    BOOTH_ROLES,
    MEDIA_NAMESPACES,
    NAMESPACES,
    InvalidToken,
    LoginThrottled,
    Principal,
    Role,
    WrongNamespace,
    ice_servers,
    may_open,
    namespace_for_booth_role,
    sign_connect_token,
    split_ice_urls,
    token_lifetime_ms,
)
from window_server.domain.errors import Forbidden, InvalidInput, Unauthenticated, UnsupportedMedia
from window_server.http.client import WHO, client_address
from window_server.http.errors import error_response

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

COOKIE = "rw_session"
MAX_FIELD_CHARS = 4096
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- the door: bodies, addresses, origins ---------------------------------------------------


async def json_object(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body; 415 unless sent as application/json, 400 unless an object."""
    if request.content_type != "application/json":
        # A cross-site <form> cannot send application/json without a CORS preflight.
        raise UnsupportedMedia("send the body as application/json")
    raw = await request.read()
    try:
        # UTF-8 only (RFC 8259); bytes that are not, and nesting deep enough to exhaust the
        # parser's recursion, are the client's fault: 400, never a 500 with a traceback.
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidInput("the request body is not valid UTF-8 JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """Return ``body[name]`` if it is a string of at most ``max_chars``; raise InvalidInput."""
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    if len(value) > max_chars:
        raise InvalidInput(f"{name} is longer than {max_chars} characters", field=name)
    return value


def _host_port(scheme: str, netloc: str) -> str:
    netloc = netloc.lower().rstrip(".")
    default = _DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def _same_site_origin(request: web.Request, origin: str) -> bool:
    allowed = {o.strip().rstrip("/").lower() for o in request.app[SETTINGS].allowed_origins.split(",")}
    if origin.rstrip("/").lower() in allowed - {""}:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return False
    host = request.host.lower()
    for port in _DEFAULT_PORTS.values():  # Host carries no scheme; nginx may drop a default port
        if host.endswith(f":{port}"):
            host = host[: -len(port) - 1]
    return _host_port(parts.scheme, parts.netloc) == host


@web.middleware
async def origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state-changing /api/ requests whose Origin header names another site (CSRF)."""
    if request.method not in _SAFE_METHODS and request.path.startswith("/api/"):
        origin = request.headers.get("Origin")
        if origin is not None and not _same_site_origin(request, origin):
            log.info("cross-origin %s %s refused (origin %s)", request.method, request.path, origin[:100])
            raise Forbidden("requests from another site are not accepted", code="cross_origin")
    return await handler(request)


# --- who is asking ---------------------------------------------------------------------------


def _store(request: web.Request) -> AccountStore:
    return request.app[ACCOUNTS]


async def current_user(request: web.Request) -> User:
    """Return the logged-in user of this request; raise Unauthenticated or AccountDisabled."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthenticated("log in first")
    user = await _store(request).web_session_user(token)
    request[WHO] = user.username  # named in the security trail if this request is refused
    return user


async def require_user(request: web.Request, roles: set[Role] | None = None) -> Principal:
    """Return the principal of the logged-in user; 401 without a login, 403 for another role."""
    user = await current_user(request)
    if roles is not None and user.role not in roles:
        raise Forbidden(f"a {user.role.value} may not do this")
    return user.principal()


def _no_store(resp: web.StreamResponse) -> web.StreamResponse:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _ice(request: web.Request, namespace: str, user: str) -> list[dict[str, Any]]:
    if namespace not in MEDIA_NAMESPACES:
        return []  # dashboards make no calls: no TURN credentials for them
    settings = request.app[SETTINGS]
    now_s = _store(request).now_ms() // 1000
    return ice_servers(
        split_ice_urls(settings.ice_servers), settings.turn_secret, user, now_s,
        settings.turn_ttl_seconds,
    )


async def _connect_token(
    request: web.Request, principal: Principal, namespace: str, *, gen: int, login: str = ""
) -> dict[str, Any]:
    store = _store(request)
    now_ms = store.now_ms()
    lifetime = request.app[SETTINGS].connect_token_seconds
    token = sign_connect_token(
        await store.signing_key(), principal, namespace, now_ms, lifetime, secrets.token_urlsafe(12),
        gen=gen, login=login,
    )
    expires_at = now_ms + token_lifetime_ms(lifetime)
    return {
        "token": token, "expires_at": expires_at, "ice_servers": _ice(request, namespace, principal.subject),
        "ice_transport_policy": request.app[SETTINGS].ice_transport_policy,  # RTCConfiguration.iceTransportPolicy
    }


# --- routes ----------------------------------------------------------------------------------


@routes.post("/api/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check username and password; start a web session (cookie ``rw_session``)."""
    body = await json_object(request)
    username = text_field(body, "username", max_chars=64)
    password = text_field(body, "password")
    store = _store(request)
    try:
        user = await store.authenticate(username, password, client_address(request))
    except LoginThrottled as exc:
        resp = error_response(exc.http_status, exc.code, exc.message)
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp
    # a fresh token on every login (no session fixation); the old cookie's login ends
    token = await store.create_web_session(user, replacing=request.cookies.get(COOKIE, ""))
    settings = request.app[SETTINGS]
    resp = web.json_response({"user": user.public()})
    resp.set_cookie(
        COOKIE, token, max_age=int(store.policy.session_ms // 1000), path="/",
        httponly=True, samesite="Strict", secure=settings.cookie_secure,
    )
    return _no_store(resp)


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the web session and the sockets opened from it (idempotent); clear the cookie."""
    if token := request.cookies.get(COOKIE):
        await _store(request).end_web_session(token)
    resp = web.Response(status=204)
    resp.del_cookie(
        COOKIE, path="/", httponly=True, samesite="Strict", secure=request.app[SETTINGS].cookie_secure
    )
    return _no_store(resp)


@routes.get("/api/me")
async def me(request: web.Request) -> web.StreamResponse:
    """The logged-in user."""
    user = await current_user(request)
    return _no_store(web.json_response({"user": user.public()}))


@routes.post("/api/connect-token")
async def staff_connect_token(request: web.Request) -> web.StreamResponse:
    """A short-lived, single-use token for the logged-in user to open /agent or /dashboard."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise Unauthenticated("log in first")
    user, login = await _store(request).web_session(cookie)
    request[WHO] = user.username  # as current_user does, for the security trail
    principal = user.principal()
    body = await json_object(request)
    namespace = text_field(body, "namespace", max_chars=32)
    if namespace not in NAMESPACES:
        raise InvalidInput(f"namespace must be one of {', '.join(NAMESPACES)}", field="namespace")
    if not may_open(principal.role, namespace):
        raise WrongNamespace(f"a {principal.role.value} may not open {namespace}")
    answer = await _connect_token(request, principal, namespace, gen=user.generation, login=login)
    return _no_store(web.json_response(answer))


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send the booth token as 'Authorization: Bearer <token>'")
    return token.strip()


@routes.post("/api/booths/{booth}/connect-token")
async def booth_connect_token(request: web.Request) -> web.StreamResponse:
    """A short-lived token for a booth's kiosk page (/booth) or device agent (/device)."""
    store = _store(request)
    booth = await store.verify_booth(request.match_info["booth"], _bearer(request))
    body = await json_object(request)
    role_name = text_field(body, "role", max_chars=16)
    if role_name not in {r.value for r in BOOTH_ROLES}:
        raise InvalidInput('role must be "booth" or "device"', field="role")
    role = Role(role_name)
    centre = store.catalogue.centre(booth.centre) if store.catalogue.has_centre(booth.centre) else None
    principal = Principal(
        role=role, subject=booth.booth, centre=booth.centre,
        langs=centre.languages if centre else (), name=booth.name,
    )
    answer = await _connect_token(request, principal, namespace_for_booth_role(role), gen=booth.generation)
    answer["centre"] = booth.centre
    return _no_store(web.json_response(answer))
