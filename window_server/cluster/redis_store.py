"""What the cluster runner asks of Redis and Sentinel (synchronous: the runner is not async)."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import RedisError


def _client(port: int, host: str = "127.0.0.1") -> Redis:
    return Redis(host=host, port=port, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True)


def redis_ready(port: int, *, replica: bool = False) -> bool:
    """Whether the Redis on ``port`` answers (and, as a replica, is in sync with its primary)."""
    try:
        with _client(port) as redis:
            info = redis.info("replication")
            if replica:
                return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")
            return bool(redis.ping())
    except (RedisError, OSError):
        return False


def primary_acks(port: int, want: int, timeout_ms: int = 200) -> int:
    """How many replicas acknowledge a write to the Redis on ``port`` within ``timeout_ms`` (0 on error)."""
    try:
        with _client(port) as redis:
            redis.set("rw:cluster:probe", "1")
            return int(redis.execute_command("WAIT", want, timeout_ms))
    except (RedisError, OSError):
        return 0


def sentinel_primary(port: int, service: str) -> tuple[str, int] | None:
    """The primary the Sentinel on ``port`` names for ``service`` (None if it does not answer)."""
    try:
        with _client(port) as redis:
            addr = redis.sentinel_get_master_addr_by_name(service, return_responses=True)
    except (RedisError, OSError):
        return None
    if not isinstance(addr, (tuple, list)) or len(addr) != 2:
        return None
    host, p = addr
    return str(host), int(p)


def sentinel_quorum_ok(port: int, service: str, replicas: int, sentinels: int) -> bool:
    """Whether this Sentinel sees the primary, ``replicas`` replicas and ``sentinels`` - 1 other
    Sentinels, and can reach the quorum: a failover would work now."""
    try:
        with _client(port) as redis:
            master = redis.sentinel_master(service, return_responses=True)
            if not isinstance(master, dict):
                return False
            if int(master.get("num-slaves", 0)) < replicas or int(master.get("num-other-sentinels", 0)) < sentinels - 1:
                return False
            return bool(redis.execute_command("SENTINEL", "CKQUORUM", service))
    except (RedisError, OSError):
        return False
