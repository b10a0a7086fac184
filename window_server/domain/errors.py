"""The exception tree: every error a client can see carries a stable code.

HTTP turns these into ``{"error": {"code", "message", "field"?}}`` with ``http_status``;
socket.io turns them into an error ack with the same body. Codes never change once shipped.
"""

from __future__ import annotations

from typing import Any


class RemoteWindowError(Exception):
    """Base of every error with a stable code that may be shown to a client."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.field = field

    def to_payload(self) -> dict[str, Any]:
        """Return the one error shape shared by HTTP and socket.io."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class InvalidInput(RemoteWindowError):
    """The request is malformed or a field fails validation."""

    code = "invalid_input"
    http_status = 400


class Unauthenticated(RemoteWindowError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(RemoteWindowError):
    code = "forbidden"
    http_status = 403


class NotFound(RemoteWindowError):
    code = "not_found"
    http_status = 404


class Conflict(RemoteWindowError):
    """The request is well formed but the current state does not allow it."""

    code = "conflict"
    http_status = 409


class TooLarge(RemoteWindowError):
    code = "too_large"
    http_status = 413


class UnsupportedMedia(RemoteWindowError):
    code = "unsupported_media_type"
    http_status = 415


class RateLimited(RemoteWindowError):
    code = "rate_limited"
    http_status = 429


class Unavailable(RemoteWindowError):
    """A backing service (Redis, the process pool) does not answer."""

    code = "unavailable"
    http_status = 503
