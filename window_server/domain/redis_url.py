"""The forms of ``REDIS_URL``: plain Redis, or a primary found through Redis Sentinel.

``redis+sentinel://[[user]:password@]host:port,host:port,.../<service>/<db>[?sentinel_password=…]``
names the Sentinels (at least one; list them all), the monitored service (``sentinel monitor
<service> …``) and the database number (default 0). The password is the Redis servers' own
(``requirepass``); Sentinels that ask for one get ``sentinel_password``.

python-socketio parses ``redis+sentinel`` URLs itself with the path the other way round
(``/<db>/<service>``); ours is parsed here, once, by the store's client, the settings check and
the socket.io bus alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class SentinelTarget:
    """Where the primary is asked for: the Sentinels, the service's name, the database, credentials."""

    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names a primary through Sentinel."""
    return url.lower().startswith(SENTINEL_SCHEME + "://")


def parse_sentinel(url: str) -> SentinelTarget:
    """Parse a ``redis+sentinel://`` URL; raise ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"must start with {SENTINEL_SCHEME}://")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    hosts = tuple(_host_port(h) for h in hostlist.split(","))
    segments = [s for s in parts.path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ValueError("the path must be /<service>/<db>, e.g. /mymaster/0")
    service = unquote(segments[0])
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"the database must be a number, not {segments[1]!r} (the path is /<service>/<db>)")
        db = int(segments[1])
    username = password = None
    if userinfo:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon and pw else None
    query = parse_qs(parts.query)
    unknown = set(query) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} (only sentinel_password)")
    sentinel_password = query["sentinel_password"][-1] if "sentinel_password" in query else None
    return SentinelTarget(hosts, service, db, username, password, sentinel_password)


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """The Sentinels, the service and the database of a ``redis+sentinel://`` URL."""
    t = parse_sentinel(url)
    return list(t.hosts), t.service, t.db


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a ``REDIS_URL`` value, or None (empty means the embedded server)."""
    if not url:
        return None
    if is_sentinel_url(url):
        try:
            parse_sentinel(url)
        except ValueError as exc:
            return f"{exc} (form: {SENTINEL_SCHEME}://host:port,host:port,host:port/<service>/<db>)"
        return None
    if url.lower().startswith(tuple(s + "://" for s in PLAIN_SCHEMES)):
        return None
    return (f"must start with redis://, rediss://, unix:// or {SENTINEL_SCHEME}:// "
            "(or be empty for the embedded server)")


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"each Sentinel must be host:port, not {text!r}")
    return host.strip("[]"), int(port)
