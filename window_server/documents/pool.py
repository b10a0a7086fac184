"""Run the document pipeline in worker processes, so the event loop never decodes an image.

A 12 MP still costs ~100-200 ms of CPU; on the loop that would stall every socket. Workers are
started with 'forkserver' (or 'spawn'): forking the server, which runs threads, could copy a
held lock into the child. Each worker uses one OpenCV thread and one ONNX Runtime thread (OCR),
so N workers use N cores. Each worker loads its OCR engine in a thread of its own as it starts
(~0.5 s of CPU), so the pool is ready at once and the first still to recognise does not pay the
load (it waits for it if it comes sooner).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from window_server.documents import compose, ocr, pipeline
from window_server.documents.pipeline import CheckResult
from window_server.documents.quality import QualityThresholds
from window_server.documents.recognise import Recognition
from window_server.documents.sniff import DEFAULT_MAX_MEGAPIXELS
from window_server.domain.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


async def within(work: Awaitable[T], timeout_s: float, what: str) -> T:
    """Await pool work for at most ``timeout_s``; a timeout is 503 ``unavailable`` (logged: ``what``)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await work
    except TimeoutError:
        log.warning("document workers did not %s within %g s", what, timeout_s)
        raise Unavailable("the document workers are busy; try again shortly") from None


#: Workers run a little below the server's priority: when every core is busy with stills, the
#: event loop (sockets, signaling, the queue) still gets the CPU first; checks wait a few ms.
WORKER_NICENESS = 5


def _init_worker(warm_ocr: bool = True) -> None:
    """Set a worker up: one OpenCV thread, lower priority, and Ctrl-C is the parent's business;
    start loading the OCR engine (a non-daemon thread: the worker's exit waits for it)."""
    import cv2

    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    if warm_ocr:
        threading.Thread(target=ocr.warm, name="ocr-warm").start()


def _ping() -> int:
    return os.getpid()


def _ocr_ready() -> int:
    """Wait for this worker's OCR engine (loaded by the warm-up thread, or now)."""
    ocr.engine()
    return os.getpid()


class DocumentPool:
    """An asyncio front to a process pool running the document pipeline.

    At most ``max_pending`` jobs are handed to the workers at once; further callers wait for a
    slot (wrap calls in ``asyncio.timeout`` to bound the wait). A crashed worker breaks the
    executor: the call fails with ``Unavailable`` and the next call starts a fresh one.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        max_pending: int | None = None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
        start_method: str | None = None,
        warm_ocr: bool = True,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            start_method or ("forkserver" if "forkserver" in methods else "spawn")
        )
        self._workers = workers
        self._max_megapixels = max_megapixels
        self._warm_ocr = warm_ocr
        self._slots = asyncio.Semaphore(max_pending or 2 * workers)
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    @property
    def workers(self) -> int:
        return self._workers

    async def start(self, *, wait_ocr: bool = False) -> None:
        """Start every worker now (importing OpenCV takes a while), rather than on first use;
        with ``wait_ocr`` also wait until the workers have loaded their OCR engines (~0.5 s)."""
        await asyncio.gather(*(self._run(_ocr_ready if wait_ocr else _ping) for _ in range(self._workers)))

    async def check(self, data: bytes, thresholds: QualityThresholds | None = None) -> CheckResult:
        """Judge a still (see ``pipeline.check_image``)."""
        return await self._run(
            pipeline.check_image, data, thresholds, max_megapixels=self._max_megapixels
        )

    async def process(
        self, data: bytes, thresholds: QualityThresholds | None = None, *, quality: int = 90
    ) -> tuple[CheckResult, bytes | None]:
        """Judge a still and return it corrected too (see ``pipeline.process_image``)."""
        return await self._run(
            pipeline.process_image, data, thresholds, quality=quality,
            max_megapixels=self._max_megapixels,
        )

    async def process_upload(
        self, data: bytes, thresholds: QualityThresholds | None = None, *, quality: int = 90,
        thumb_side: int = 320,
    ) -> tuple[CheckResult, bytes | None, bytes]:
        """Judge a still; return it corrected and a thumbnail too (see ``pipeline.process_upload``)."""
        return await self._run(
            pipeline.process_upload, data, thresholds, quality=quality, thumb_side=thumb_side,
            max_megapixels=self._max_megapixels,
        )

    async def recognise(self, corrected: bytes, *, quality: int = 85) -> tuple[Recognition, bytes | None]:
        """Recognise a corrected page; return it with its masked rendition (see
        ``pipeline.recognise_corrected``). ~0.4-0.8 s of one core: call it after ``process_upload``
        has answered, so the verdict is not kept waiting."""
        return await self._run(
            pipeline.recognise_corrected, corrected, quality=quality, max_megapixels=self._max_megapixels
        )

    async def correct(self, data: bytes, *, quality: int = 90) -> bytes:
        """Return the page deskewed and cropped as JPEG (see ``pipeline.correct_image``)."""
        return await self._run(
            pipeline.correct_image, data, quality=quality, max_megapixels=self._max_megapixels
        )

    async def thumbnail(self, data: bytes, *, max_side: int = 320) -> bytes:
        """Return a JPEG thumbnail."""
        return await self._run(
            pipeline.thumbnail, data, max_side=max_side, max_megapixels=self._max_megapixels
        )

    async def merge_id_card(self, front: bytes, back: bytes, *, crop: bool = False) -> bytes:
        """Return both sides of an ID card on one A4 JPEG page."""
        return await self._run(
            compose.merge_id_card, front, back, crop=crop, max_megapixels=self._max_megapixels
        )

    async def compose_pdf(self, images: Sequence[bytes], *, title: str | None = None) -> bytes:
        """Return the stills as one PDF."""
        return await self._run(
            compose.compose_pdf, list(images), title=title, max_megapixels=self._max_megapixels
        )

    async def close(self) -> None:
        """Stop the workers; waits for running jobs in a thread so the loop stays free."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(_shutdown, executor)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            raise Unavailable("the document pool is closed")
        async with self._slots:
            executor = self._ensure_executor()
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(executor, _call, fn, args, kwargs)
            except BrokenProcessPool as exc:
                log.error("document worker died; starting a fresh pool: %s", exc)
                if self._executor is executor:
                    self._executor = None
                    executor.shutdown(wait=False, cancel_futures=True)
                raise Unavailable("the document worker stopped unexpectedly; try again") from exc

    def _ensure_executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=self._context, initializer=_init_worker,
                initargs=(self._warm_ocr,),
            )
        return self._executor


def _shutdown(executor: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Stop the workers, bounded: a worker that does not leave within the grace is killed
    (a plain ``shutdown(wait=True)`` was seen waiting forever on a stuck forkserver worker)."""
    workers = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for w in workers:
        w.join(grace_s)
    for w in workers:
        if w.is_alive():
            log.warning("document worker %s did not stop; killing it", w.pid)
            w.kill()
            w.join(2.0)


def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    """Run fn(*args, **kwargs) in a worker (run_in_executor passes no keyword arguments)."""
    return fn(*args, **kwargs)
