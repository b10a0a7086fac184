"""The process pool: work runs in workers, the event loop stays free, errors keep their codes."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_documents as sd
from window_server.documents import ocr
from window_server.documents.codec import encode_jpeg
from window_server.documents.pipeline import check_image
from window_server.documents.pool import DocumentPool
from window_server.documents.sniff import CorruptImage, UnsupportedImage


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[DocumentPool]:
    p = DocumentPool(workers=2)
    await p.start()
    yield p
    await p.close()


async def test_check_runs_in_another_process(pool: DocumentPool, good_jpeg: bytes) -> None:
    result = await pool.check(good_jpeg)
    assert result.document_found and result.accepted
    pids = await asyncio.gather(*(pool._run(os.getpid) for _ in range(4)))
    assert os.getpid() not in pids


async def test_process_correct_and_compose(pool: DocumentPool, good_jpeg: bytes, card_jpeg: bytes) -> None:
    result, corrected = await pool.process(good_jpeg)
    assert result.accepted and corrected is not None and corrected[:2] == b"\xff\xd8"
    assert (await pool.correct(card_jpeg))[:2] == b"\xff\xd8"
    assert (await pool.thumbnail(good_jpeg, max_side=128))[:2] == b"\xff\xd8"
    side = await pool.correct(card_jpeg)
    assert (await pool.merge_id_card(side, side))[:2] == b"\xff\xd8"
    assert (await pool.compose_pdf([good_jpeg, side])).startswith(b"%PDF-")


async def test_errors_cross_the_process_boundary_with_their_codes(pool: DocumentPool, good_jpeg: bytes) -> None:
    with pytest.raises(CorruptImage) as info:
        await pool.check(good_jpeg[:5000])
    assert info.value.code == "corrupt_image" and info.value.http_status == 400
    with pytest.raises(UnsupportedImage):
        await pool.check(b"hello")


async def test_stills_are_decoded_in_the_workers_never_on_the_event_loop(
    pool: DocumentPool, good_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decoding is the expensive step; in this (the server's) process it must not happen at all.
    decoded_here: list[int] = []
    imdecode = cv2.imdecode

    def watched(*args: Any, **kwargs: Any) -> Any:
        decoded_here.append(1)
        return imdecode(*args, **kwargs)

    monkeypatch.setattr(cv2, "imdecode", watched)
    async with asyncio.timeout(60):
        results = await asyncio.gather(*(pool.check(good_jpeg) for _ in range(8)))
    assert all(r.accepted for r in results)
    assert decoded_here == []
    check_image(good_jpeg)  # the watch itself works: a decode in this process is seen
    assert decoded_here


async def test_closed_pool_refuses_work(good_jpeg: bytes) -> None:
    p = DocumentPool(workers=1)
    await p.close()
    with pytest.raises(Exception, match="closed"):
        await p.check(good_jpeg)


def _ocr_loaded_after_warm_up() -> bool:
    """In a worker: wait for the warm-up thread started with the worker, then say whether the
    OCR engine is loaded (without loading it)."""
    for thread in threading.enumerate():
        if thread.name == "ocr-warm":
            thread.join(60)
    return ocr._load.cache_info().currsize == 1


async def test_workers_load_the_ocr_engine_as_they_start(pool: DocumentPool) -> None:
    async with asyncio.timeout(60):
        loaded = await asyncio.gather(*(pool._run(_ocr_loaded_after_warm_up) for _ in range(pool.workers)))
    assert all(loaded)


async def test_recognise_runs_in_a_worker_and_returns_the_masked_rendition(pool: DocumentPool) -> None:
    who = sd.make_identity(np.random.default_rng(31))
    front = sd.render_document("id_card_front", 856, 540, np.random.default_rng(31), who).image
    async with asyncio.timeout(60):
        recognition, masked = await pool.recognise(encode_jpeg(front))
    assert recognition.cls == "id_card_front" and recognition.id_number == who.number
    assert masked is not None and masked[:2] == b"\xff\xd8" and recognition.mask_boxes
    with pytest.raises(CorruptImage):
        await pool.recognise(encode_jpeg(front)[:3000])
