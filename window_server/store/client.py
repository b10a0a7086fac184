"""The one way to open a Redis client, and the one way to write what a client is told is saved.

``make_redis`` opens a bounded pool that waits instead of failing on bursts, to a plain Redis
(``redis://``, ``rediss://``, ``unix://``) or to the primary Sentinel names
(``redis+sentinel://h:p,h:p,h:p/<service>/<db>``, parsed by ``domain/redis_url.py``). Through
Sentinel each new connection asks the Sentinels where the primary is, so after a failover the
next command reaches the new primary: Sentinel closes the clients of a demoted primary, and a
write to one that was demoted under us fails READONLY, which drops the connection too.

Durable acknowledgements (``RW_REDIS_WAIT_REPLICAS``): a write acknowledged to a client goes
through ``acked``/``acked_script``, which send it and ``WAIT <replicas> <ms>`` in one pipeline,
so both use the same connection (WAIT waits for that connection's own last write). When fewer
replicas confirm in time the caller gets ``NotReplicated`` (code ``unavailable``) instead of a
success: the write may be on the primary, but nobody was told it is saved. See
docs/operations.md, "Redis: Sentinel and durable acknowledgements".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from window_server.domain.errors import Unavailable
from window_server.domain.redis_url import (
    is_sentinel_url,
    parse_sentinel,
    parse_sentinel_url,
)

__all__ = ["Acks", "Client", "NotReplicated", "acked", "acked_script", "acks_of", "make_redis",
           "parse_sentinel_url", "ping"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acks:
    """How many replicas must hold a write before it is acknowledged, and how long to wait for them."""

    replicas: int = 0
    timeout_ms: int = 500


NO_WAIT = Acks()


class NotReplicated(Unavailable, RedisConnectionError):
    """Fewer replicas than required confirmed a write in time: it is not acknowledged.

    A domain ``Unavailable`` (the client is answered ``unavailable`` and retries) and a Redis
    connection error (background loops treat it as the outage it is).
    """

    def __init__(self, wanted: int, got: int) -> None:
        super().__init__("the change could not be confirmed on a Redis replica in time; try again shortly")
        self.wanted, self.got = wanted, got


class Client(Redis):
    """A Redis client that knows its acknowledgement rule (and closes its Sentinels with itself)."""

    acks: Acks = NO_WAIT
    sentinels: Sentinel | None = None  # the Sentinels asked for the primary (None: plain Redis)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            with contextlib.suppress(Exception):
                await self.sentinels.aclose()

    async def recheck_primary(self) -> None:
        """Through Sentinel: ask again where the primary is; sockets to a former one are then dropped.

        Sentinel demotes a former primary that is still up only seconds after it promoted another
        (a manual failover, a partition healing); until then writes sent there would be lost.
        """
        pool = self.connection_pool
        if isinstance(pool, _BlockingSentinelPool):
            with contextlib.suppress(Exception):  # no Sentinel answers: the next connect asks again
                await pool.get_master_address()  # type: ignore[no-untyped-call]


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary's pool through Sentinel, bounded like the plain one: a burst waits for a socket.

    A pooled socket to a server that is no longer the primary Sentinel last named is dropped
    when it is taken (it reconnects, asking Sentinel, on its next command).
    """

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        conn = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        primary = self.master_address
        if primary is not None and conn.is_connected and (conn.host, conn.port) != tuple(primary):
            await conn.disconnect()
        return conn


def make_redis(
    url: str,
    *,
    timeout: float = 2.0,
    max_connections: int = 64,
    wait_replicas: int = 0,
    wait_ms: int = 500,
) -> Client:
    """A client with at most ``max_connections`` sockets; a burst waits up to ``timeout`` for one.

    ``wait_replicas`` > 0: writes made through ``acked`` are acknowledged only once that many
    replicas hold them (waiting at most ``wait_ms``).
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "max_connections": max_connections,
        "timeout": timeout,  # the pool's wait for a free socket
        "socket_timeout": timeout + wait_ms / 1000 if wait_replicas else timeout,  # WAIT may take wait_ms
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
    }
    client: Client
    if is_sentinel_url(url):
        target = parse_sentinel(url)
        sentinel_options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if target.sentinel_password:
            sentinel_options["password"] = target.sentinel_password
        # through Any: redis-py < 8.2 leaves Sentinel's constructor untyped, 8.2 types it
        sentinel: Sentinel = cast(Any, Sentinel)(list(target.hosts), sentinel_kwargs=sentinel_options)
        for name in ("username", "password"):
            if value := getattr(target, name):
                options[name] = value
        client = cast(Client, sentinel.master_for(
            target.service, redis_class=Client, connection_pool_class=_BlockingSentinelPool,
            db=target.db, **options,
        ))
        client.sentinels = sentinel
    else:
        pool = BlockingConnectionPool.from_url(url, **options)
        client = cast(Client, Client.from_pool(pool))  # the client owns the pool: aclose() closes its sockets
    client.acks = Acks(wait_replicas, wait_ms)
    return client


def acks_of(redis: Redis) -> Acks:
    """The acknowledgement rule of a client (none for a client not made by ``make_redis``)."""
    return redis.acks if isinstance(redis, Client) else NO_WAIT


async def acked(redis: Redis, *command: Any, durable: bool = True) -> Any:
    """Run one write command and return its reply, acknowledged by the replicas the client asks for.

    With acknowledgements on (and ``durable``), the command and ``WAIT`` go in one pipeline:
    one round trip, one connection. Raise ``NotReplicated`` when too few replicas confirm.
    """
    acks = acks_of(redis)
    if not durable or acks.replicas <= 0:
        try:
            return await redis.execute_command(*command)  # type: ignore[no-untyped-call]
        except ResponseError as exc:
            if refused := _refused(exc):
                raise refused from exc
            raise
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command(*command)
        pipe.execute_command("WAIT", acks.replicas, acks.timeout_ms)
        reply, confirmed = await pipe.execute(raise_on_error=False)
    if isinstance(reply, Exception):  # the command itself failed: nothing to acknowledge
        raise _refused(reply) or reply
    if isinstance(confirmed, Exception):
        raise confirmed
    if int(confirmed) < acks.replicas:
        if isinstance(redis, Client):
            await redis.recheck_primary()  # the replicas may be gone because the primary moved
        log.warning("Redis: %d of %d replicas confirmed a write within %d ms; answered unavailable",
                    int(confirmed), acks.replicas, acks.timeout_ms)
        raise NotReplicated(acks.replicas, int(confirmed))
    return reply


def _refused(exc: Exception) -> NotReplicated | None:
    """A primary refusing writes for want of replicas (``min-replicas-to-write``) is unavailability."""
    if isinstance(exc, ResponseError) and str(exc).startswith("NOREPLICAS"):
        return NotReplicated(1, 0)
    return None


async def acked_script(
    redis: Redis, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any], *, durable: bool = True
) -> Any:
    """Run a registered script as an acknowledged write (``acked``), loading it if Redis lost it."""
    if not durable or acks_of(redis).replicas <= 0:
        try:
            return await script(keys=list(keys), args=list(args))
        except ResponseError as exc:
            if refused := _refused(exc):
                raise refused from exc
            raise
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return await acked(redis, *command)
    except NoScriptError:
        await redis.script_load(script.script)
        return await acked(redis, *command)


async def ping(redis: Redis) -> None:
    """PING: raise unless Redis answers (the readiness probe)."""
    await redis.ping()
