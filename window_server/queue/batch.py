"""Group commit for the queue's Redis functions.

A call made while none is in flight goes to Redis at once, as its own FCALL. Calls made while
``depth`` are already in flight wait, and go together as one FCALL of ``rw_batch`` as soon as
one of those returns. Redis runs a batch's calls one after the other, each exactly as it would
run alone (its own checks, writes, events and reply; one call's error does not touch the
others), so a batch changes nothing but the number of round trips: under load the client's
and Redis's fixed cost per command is paid once per batch instead of once per call, and with
no load nothing waits.

Durable acknowledgements (``RW_REDIS_WAIT_REPLICAS``): every FCALL here, alone or a batch, is
sent with ``WAIT`` on the same connection (``store.client.acked``) unless none of its calls is
``durable`` (the ticker's, heartbeats, reads); a batch is confirmed or refused as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from window_server.store.client import acked

BATCH_FUNCTION = "rw_batch"
FATAL = "\x00fatal:"  # prefix of a batched call's reply when the call itself failed in Lua


class Batcher:
    """Send Redis function calls, batching the ones that queue up behind calls in flight."""

    def __init__(
        self,
        redis: Redis,
        reload: Callable[[], Awaitable[None]],
        context: str,
        *,
        depth: int = 2,
        max_calls: int = 16,
    ) -> None:
        self.redis = redis
        self.reload = reload  # loads the library again (Redis restarted empty, functions flushed)
        self.context = context  # the argument every call shares (the queue's timings)
        self.depth = depth  # FCALLs in flight at most before calls start to wait
        self.max_calls = max_calls  # one batch holds Redis for this many calls at most
        self._in_flight = 0
        self._waiting: list[tuple[str, str, asyncio.Future[str], bool]] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def call(self, fn: str, payload: str, *, durable: bool = True) -> str:
        """Run ``fn`` with its JSON ``payload``; return its JSON reply.

        ``durable``: the reply is what a client is told, so it waits for the replicas the
        client asks for (``NotReplicated`` when too few confirm); False for the queue's own work.
        """
        if self._in_flight < self.depth and not self._waiting:
            self._in_flight += 1
            try:
                reply: str = await self._fcall(fn, 0, payload, self.context, durable=durable)
                return reply
            finally:
                self._done()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((fn, payload, future, durable))
        return await future

    async def _fcall(self, fn: str, *args: Any, durable: bool) -> Any:
        """The queue's one way to Redis: FCALL, followed by WAIT when durable (``store.client.acked``)."""
        try:
            return await acked(self.redis, "FCALL", fn, *args, durable=durable)
        except ResponseError as exc:
            if "Function not found" not in str(exc):
                raise
            await self.reload()
            return await acked(self.redis, "FCALL", fn, *args, durable=durable)

    def _done(self) -> None:
        """One FCALL returned: send what waits, as one batch."""
        self._in_flight -= 1
        if not self._waiting:
            return
        batch, self._waiting = self._waiting[: self.max_calls], self._waiting[self.max_calls :]
        self._in_flight += 1
        task = asyncio.ensure_future(self._send(batch))
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)

    async def _send(self, batch: list[tuple[str, str, asyncio.Future[str], bool]]) -> None:
        try:
            args = [self.context, *(x for fn, payload, _, _ in batch for x in (fn, payload))]
            replies = await self._fcall(BATCH_FUNCTION, 0, *args, durable=any(d for *_, d in batch))
            for (_, _, future, _), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue  # its caller was cancelled: the call ran all the same
                if reply.startswith(FATAL):
                    future.set_exception(ResponseError(reply[len(FATAL) :]))
                else:
                    future.set_result(reply)
        except Exception as exc:  # the batch as a whole failed (connection lost...): tell each caller
            self._fail(batch, exc)
        except BaseException:  # cancelled (shutdown): its callers get no answer from Redis
            self._fail(batch, ConnectionError("the queue's Redis calls were stopped"))
            raise
        finally:
            self._done()

    @staticmethod
    def _fail(batch: list[tuple[str, str, asyncio.Future[str], bool]], exc: Exception) -> None:
        for _, _, future, _ in batch:
            if not future.done():
                future.set_exception(exc)
