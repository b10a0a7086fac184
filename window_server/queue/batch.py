"""Group commit for the queue's Redis functions.

A call made while none is in flight goes to Redis at once, as its own FCALL. Calls made while
``depth`` are already in flight wait, and go together as one FCALL of ``rw_batch`` as soon as
one of those returns. Redis runs a batch's calls one after the other, each exactly as it would
run alone (its own checks, writes, events and reply; one call's error does not touch the
others), so a batch changes nothing but the number of round trips: under load the client's
and Redis's fixed cost per command is paid once per batch instead of once per call, and with
no load nothing waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

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
        self._waiting: list[tuple[str, str, asyncio.Future[str]]] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def call(self, fn: str, payload: str) -> str:
        """Run ``fn`` with its JSON ``payload``; return its JSON reply."""
        if self._in_flight < self.depth and not self._waiting:
            self._in_flight += 1
            try:
                reply: str = await self._fcall(fn, 0, payload, self.context)
                return reply
            finally:
                self._done()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((fn, payload, future))
        return await future

    async def _fcall(self, fn: str, *args: Any) -> Any:
        try:
            return await self.redis.fcall(fn, *args)
        except ResponseError as exc:
            if "Function not found" not in str(exc):
                raise
            await self.reload()
            return await self.redis.fcall(fn, *args)

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

    async def _send(self, batch: list[tuple[str, str, asyncio.Future[str]]]) -> None:
        try:
            args = [self.context, *(x for fn, payload, _ in batch for x in (fn, payload))]
            replies = await self._fcall(BATCH_FUNCTION, 0, *args)
            for (_, _, future), reply in zip(batch, replies, strict=True):
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
    def _fail(batch: list[tuple[str, str, asyncio.Future[str]]], exc: Exception) -> None:
        for _, _, future in batch:
            if not future.done():
                future.set_exception(exc)
