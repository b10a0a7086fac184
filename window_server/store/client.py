"""The one way to open a Redis client: bounded pool that waits instead of failing on bursts."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def make_redis(url: str, *, timeout: float = 2.0, max_connections: int = 64) -> Redis:
    """A client with at most ``max_connections`` sockets; a burst waits up to ``timeout`` for one."""
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its sockets


async def ping(redis: Redis) -> None:
    """PING: raise unless Redis answers (the readiness probe)."""
    await redis.ping()
