"""One error shape for HTTP: ``{"error": {"code", "message", "field"?}}``, never a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from signaling.errors import translate
from window_server.appkeys import REDIS, SECURITY
from window_server.http.client import WHO, client_address
from window_server.store.security_log import ANONYMOUS, Refusal

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ERROR_CODE = web.ResponseKey("error_code", str)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    """Return the one JSON error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    resp = web.json_response({"error": body}, status=status)
    resp[ERROR_CODE] = code  # for the security trail
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every exception into the one error shape; log unexpected ones with a traceback.

    Every refusal (401, 403) also goes to the security trail, with who, what and from where.
    """
    resp = await _answer(request, handler)
    if resp.status in _REFUSALS:
        await _audit(request, resp)
    return resp


_REFUSALS = frozenset({401, 403})


async def _audit(request: web.Request, resp: web.StreamResponse) -> None:
    security = request.app.get(SECURITY)
    if security is None or REDIS not in request.app:
        return
    code = resp.get(ERROR_CODE) or _HTTP_CODES.get(resp.status, "")
    refusal = Refusal(who=request.get(WHO, ANONYMOUS), method=request.method, path=request.path,
                      status=resp.status, code=code, addr=client_address(request))
    await security.refused(request.app[REDIS], refusal)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.text is None or exc.text.startswith(f"{exc.status}:") else exc.text
        resp = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except json.JSONDecodeError as exc:
        return error_response(400, "invalid_json", f"the request body is not valid JSON: {exc.msg}")
    except Exception as exc:  # noqa: BLE001 - the one translator, shared with socket.io (signaling/errors.py)
        answer = translate(exc)
        if answer.unexpected:
            log.exception("unexpected error serving %s %s", request.method, request.path)
        elif answer.error.code == "unavailable":
            log.warning("redis unavailable while serving %s %s", request.method, request.path)
        err = answer.error
        return error_response(err.http_status, err.code, err.message, err.field)
