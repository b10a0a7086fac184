"""The one exception translator of both transports (socket.io acks here, HTTP in window_server/http).

Any exception becomes a ``RemoteWindowError``: the domain's own errors as they are, a backing
store that does not answer as ``unavailable`` (503), anything else as ``internal_error`` (500,
marked unexpected: the caller logs it with a traceback). Which failures count as "does not
answer" is decided here once: connection and timeout errors of Redis or of a socket, and a
read-only replica (the moment of a Sentinel failover); a Redis error that is a bug (a script
error, a wrong type) is internal, not unavailability.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from window_server.domain.errors import RemoteWindowError, Unavailable

#: Failures of a backing service that retrying may cure: answered ``unavailable``.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, ReadOnlyError, ConnectionError, TimeoutError,
)
UNAVAILABLE_MESSAGE = "the queue store does not answer; try again shortly"
INTERNAL_MESSAGE = "something went wrong on our side; it has been logged"


@dataclass(frozen=True)
class Translated:
    error: RemoteWindowError
    unexpected: bool  # log it with a traceback

    @property
    def status(self) -> int:
        return self.error.http_status


def translate(exc: BaseException) -> Translated:
    """Map any exception to the one error shape's exception, and say whether it was unexpected."""
    if isinstance(exc, RemoteWindowError):
        return Translated(exc, unexpected=False)
    if isinstance(exc, UNAVAILABLE):
        return Translated(Unavailable(UNAVAILABLE_MESSAGE), unexpected=False)
    return Translated(RemoteWindowError(INTERNAL_MESSAGE), unexpected=True)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is a backing service not answering (for loops that skip a round on it)."""
    return isinstance(exc, UNAVAILABLE)
