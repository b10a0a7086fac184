"""Redis through Sentinel and durable acknowledgements, against real redis-server and redis-sentinel.

Each test gets its own primary, replica and three Sentinels on free ports (``redis_ha.py``),
stopped at the end even when the test fails. Nothing waits by sleeping: every wait is a
condition polled with a deadline (``until``) or an awaited event with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import socketio
from aiohttp import web

from signaling.bus import WatchedRedisManager, watch_bus
from signaling.errors import translate
from window_server.domain.redis_url import parse_sentinel, parse_sentinel_url
from window_server.queue.store import QueueStore
from window_server.settings import SettingsError, build_settings
from window_server.store.client import Client, NotReplicated, acked, acked_script, make_redis
from window_server.store.keys import key

from ..queue.conftest import TIMING, Clock
from .redis_ha import RedisHA

T = TypeVar("T")
DEADLINE = 30.0  # generous: a failover takes ~1 s of down-after plus an election


async def until(what: str, probe: Callable[[], Awaitable[T | None]], *, within: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns a truthy value (exceptions count as not yet); fail at the deadline."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if value := await probe():
                return value
        except Exception as exc:  # noqa: BLE001 - not yet: Redis is failing over
            last = exc
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {within} s (last error: {last!r})")


@pytest.fixture
def ha(tmp_path: Path) -> Iterator[RedisHA]:
    cluster = RedisHA(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def store_client(ha: RedisHA) -> AsyncIterator[Client]:
    client = make_redis(ha.url, timeout=2.0, wait_replicas=1, wait_ms=10_000)
    yield client
    await client.aclose()


# --- the URL form ---------------------------------------------------------------------------------


def test_our_sentinel_url_is_service_then_db() -> None:
    url = "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/mymaster/2"
    assert parse_sentinel_url(url) == (
        [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381)], "mymaster", 2)
    t = parse_sentinel(url)
    assert (t.password, t.username, t.sentinel_password) == ("s3cret", None, None)
    assert parse_sentinel_url("redis+sentinel://h:1/svc") == ([("h", 1)], "svc", 0)
    assert parse_sentinel("redis+sentinel://h:1/svc/0?sentinel_password=x").sentinel_password == "x"


@pytest.mark.parametrize("url", [
    "redis+sentinel://h:1",  # no service
    "redis+sentinel://h:1/0/mymaster",  # python-socketio's order
    "redis+sentinel://h/mymaster/0",  # no port
    "redis+sentinel://h:1/mymaster/0?db=3",  # unknown option
    "sentinel://h:1/mymaster/0",
])
def test_settings_refuse_a_malformed_redis_url(url: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        build_settings({"REDIS_URL": url})


def test_settings_accept_the_sentinel_form_and_the_wait_settings() -> None:
    s = build_settings({"REDIS_URL": "redis+sentinel://127.0.0.1:26390,127.0.0.1:26391/mymaster/0",
                        "RW_REDIS_WAIT_REPLICAS": "1", "RW_REDIS_WAIT_MS": "250"})
    assert (s.redis_wait_replicas, s.redis_wait_ms) == (1, 250)
    assert build_settings({}).redis_wait_replicas == 0  # off by default
    with pytest.raises(SettingsError, match="RW_REDIS_WAIT_REPLICAS"):
        build_settings({"RW_REDIS_WAIT_REPLICAS": "-1"})


# --- the store's client ---------------------------------------------------------------------------


async def test_make_redis_reaches_the_primary_through_sentinel(ha: RedisHA) -> None:
    client = make_redis(ha.url, timeout=2.0)
    try:
        assert await client.set("k", "v")
        assert await client.get("k") == "v"
        assert (await client.info("replication"))["role"] == "master"
        with ha.members["redis1"].client() as primary:
            assert primary.get("k") == "v"  # the first primary, by Sentinel's word
    finally:
        await client.aclose()


# --- the socket.io bus ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sio_node(url: str) -> AsyncIterator[tuple[socketio.AsyncServer, str]]:
    """A socket.io server with the watched manager on ``url``, its listener and watchdog running."""
    manager = WatchedRedisManager(url)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager, logger=False,
                               engineio_logger=False)

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        await sio.enter_room(sid, "room")

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sio.manager_initialized = True
    manager.initialize()
    watchdog = asyncio.create_task(watch_bus(manager, interval=0.5, within=0.5))
    try:
        await until("the bus hears its own canary", lambda: manager.probe(within=1.0))
        yield sio, f"http://127.0.0.1:{port}"
    finally:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
        await sio.shutdown()
        await manager.close()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def listener(url: str) -> AsyncIterator[asyncio.Queue[int]]:
    """A socket.io client in the node's room; yields the numbers of the ``hello`` events it gets."""
    got: asyncio.Queue[int] = asyncio.Queue()
    client = socketio.AsyncClient(reconnection=False)
    client.on("hello", lambda data: got.put_nowait(int(data["n"])))
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        yield got
    finally:
        await client.disconnect()


async def delivered(sender: socketio.AsyncServer, got: asyncio.Queue[int], n: int) -> bool:
    """Emit ``hello n`` on ``sender`` to the room; whether the client on the other node got it soon."""
    await sender.emit("hello", {"n": n}, room="room")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.5):
            while (await got.get()) != n:
                pass
            return True
    return False


async def test_the_bus_delivers_between_two_managers_through_sentinel(ha: RedisHA) -> None:
    async with sio_node(ha.url) as (a, _), sio_node(ha.url) as (_b, b_url), listener(b_url) as got:
        await a.emit("hello", {"n": 1}, room="room")  # node a's emit, node b's client
        async with asyncio.timeout(10):
            assert await got.get() == 1


# --- failover ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sentinel failover", "kill -9"])
async def test_the_store_and_the_bus_follow_a_failover_without_restart(ha: RedisHA, how: str) -> None:
    old = ha.primary()
    # acknowledged writes (WAIT 1): during a failover a write may still land on the primary being
    # demoted and be lost with it; only what was acknowledged is promised
    client = make_redis(ha.url, timeout=1.0, wait_replicas=1, wait_ms=1000)
    try:
        async with sio_node(ha.url) as (a, _), sio_node(ha.url) as (b, b_url), listener(b_url) as got:
            assert await acked(client, "SET", "before", "1")
            assert await delivered(a, got, 0)

            if how == "kill -9":
                ha.kill(ha.by_port(old[1]).name, signal.SIGKILL)
            else:
                def failover() -> bool:
                    with ha.sentinels[0].client() as s:  # refused while no replica looks good to it
                        return bool(s.execute_command("SENTINEL", "FAILOVER", "mymaster"))
                await until("Sentinel starts a failover", lambda: asyncio.to_thread(failover))
            new = await until("Sentinel names a new primary",
                              lambda: asyncio.to_thread(lambda: (p := ha.primary()) != old and p))
            assert new != old
            if how == "kill -9":
                ha.launch(ha.by_port(old[1]).name)  # back, empty: Sentinel makes it the new primary's replica

            # the same client, not restarted: acknowledged writes reach the new primary
            await until("an acknowledged write through the store's client",
                        lambda: acked(client, "SET", "after", "2"))
            with ha.by_port(new[1]).client() as primary:
                assert primary.get("after") == "2"
                assert primary.get("before") == "1"  # acknowledged before the failover: kept
            # the same nodes, not restarted: the bus carries emits again, both subscribed to the new primary
            n = iter(range(1, 10_000))
            await until("an emit from node a reaches node b's client", lambda: delivered(a, got, next(n)))
            for sio in (a, b):
                manager = sio.manager
                await until("the subscription is on the new primary", manager.on_primary)
                assert (manager.pubsub.connection.host, manager.pubsub.connection.port) == new
    finally:
        await client.aclose()


# --- durable acknowledgements -------------------------------------------------------------------------


async def enqueue(store: QueueStore, booth: str) -> str:
    res = await store.enqueue(booth=booth, intake_centre="sh-huangpu", matter="m-320500", region="320500",
                              lang="zh", priority="", source="walk_in", consent=True)
    return str(res.ok["sid"])


def blocked_in_wait(ha: RedisHA, primary: tuple[str, int]) -> bool:
    """Whether a client of the primary is blocked in WAIT (its own write not yet on a replica)."""
    with ha.by_port(primary[1]).client() as c:
        return any(cl.get("cmd") == "wait" and "b" in cl.get("flags", "") for cl in c.client_list())


async def test_an_acknowledged_queue_write_is_on_the_replica(ha: RedisHA, store_client: Client) -> None:
    store = QueueStore(store_client, TIMING, Clock())
    await store.load()
    replica = ha.members["redis2"]
    ha.kill("redis2", signal.SIGSTOP)  # the replica hears nothing until it is continued
    try:
        joining = asyncio.create_task(enqueue(store, "b-durable"))
        # the write is on the primary, and its connection waits for the replica: not acknowledged yet
        await until("the enqueue blocks in WAIT", lambda: asyncio.to_thread(blocked_in_wait, ha, ha.primary()))
        assert not joining.done()
    finally:
        ha.kill("redis2", signal.SIGCONT)
    sid = await asyncio.wait_for(joining, 20)
    with replica.client() as r:  # read at once from the replica, no waiting
        assert r.hget(key("session", sid=sid), "state") == "waiting"
        assert r.get(key("booth_session", booth="b-durable")) == sid


async def test_without_the_replica_an_acknowledged_write_is_unavailable(ha: RedisHA) -> None:
    client = make_redis(ha.url, timeout=2.0, wait_replicas=1, wait_ms=300)
    try:
        store = QueueStore(client, TIMING, Clock())
        await store.load()
        await enqueue(store, "b-before")  # with the replica: acknowledged
        ha.kill("redis2", signal.SIGKILL)
        with pytest.raises(NotReplicated) as caught:
            await enqueue(store, "b-after")
        assert (caught.value.wanted, caught.value.got) == (1, 0)
        answer = translate(caught.value)  # what the booth is told: retry, not "saved"
        assert (answer.status, answer.error.code, answer.unexpected) == (503, "unavailable", False)
        await store.tick()  # the queue's own work does not wait for replicas: no NotReplicated
        # a primary told to refuse writes without a replica (min-replicas-to-write): unavailable too
        with ha.by_port(ha.primary()[1]).client() as primary:
            primary.config_set("min-replicas-to-write", 1)
        with pytest.raises(NotReplicated):
            await enqueue(store, "b-refused")
        with pytest.raises(NotReplicated):
            await store.tick()
    finally:
        await client.aclose()


async def test_an_acknowledged_script_is_loaded_again_and_on_the_replica(ha: RedisHA, store_client: Client) -> None:
    """The script-based stores (recordings, signatures, holds) go through ``acked_script``."""
    script = store_client.register_script("redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1]")
    await store_client.script_flush()  # Redis lost it (a restart, a failover to a fresh replica)
    assert await acked_script(store_client, script, ["chunk"], ["c:1"]) == "c:1"
    with ha.members["redis2"].client() as r:  # read at once from the replica
        assert r.get("chunk") == "c:1"
