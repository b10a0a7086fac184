"""Benchmark the document pipeline on this machine.

    .venv/bin/python bench/documents_bench.py [--quick]

Per still on ONE core (cv2.setNumThreads(1)), at 5, 8 and 12 MP: decode + detect + correct
(full-resolution warp and JPEG encode) + checks, i.e. ``pipeline.process_image``; and
``check_image`` alone. Baseline in the same run: plain ``cv2.imdecode`` of the same 12 MP
JPEGs. Then stills per second through ``DocumentPool`` (one worker per core) and the event
loop's lag while 20 checks run through the pool. The last line is the summary:

    documents: 12MP p50 <ms> p95 <ms>, stills/s <n>, loop lag p99 <ms>

Stills are synthetic scenes with extra sensor noise, so the JPEGs are about as costly to
decode as a real document camera's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from citizen_client import synthetic_scene as ss
from window_server.documents.codec import encode_jpeg
from window_server.documents.pipeline import check_image, process_image
from window_server.documents.pool import DocumentPool

SIZES = {"5MP": (2592, 1944), "8MP": (3264, 2448), "12MP": (4000, 3000)}


def stills(size: tuple[int, int], n: int, seed: int = 0) -> list[bytes]:
    """Return n varied good stills as camera-like JPEGs (quality 92, noisy sensor)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        spec = ss.random_spec(rng, aspect=size[0] / size[1], noise=3.5)
        out.append(encode_jpeg(ss.render_scene(spec, *size, rng).image, quality=92))
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_each(fn: Callable[[bytes], object], images: list[bytes], repeats: int) -> list[float]:
    """Return per-call milliseconds, after one warm-up call."""
    fn(images[0])
    ms = []
    for _ in range(repeats):
        for data in images:
            start = time.perf_counter()
            fn(data)
            ms.append((time.perf_counter() - start) * 1000.0)
    return ms


async def pool_throughput(pool: DocumentPool, images: list[bytes], total: int) -> float:
    """Return stills per second for `total` process() calls kept in flight together."""
    start = time.perf_counter()
    await asyncio.gather(*(pool.process(images[i % len(images)]) for i in range(total)))
    return total / (time.perf_counter() - start)


async def loop_lag_during(work: Callable[[], object], tick: float = 0.001) -> list[float]:
    """Return how late (ms) a 1 ms timer fires on the loop while `work()` is awaited."""
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(tick)
            lags.append((time.perf_counter() - start - tick) * 1000.0)

    task = asyncio.create_task(probe())
    try:
        await work()  # type: ignore[misc]
    finally:
        done.set()
        await task
    return lags


async def upload_loop_lag_p99() -> float | None:
    """PLACEHOLDER (lead): event-loop lag p99 while 20 uploads run through the real endpoint.

    Needs the still-upload endpoint (issue 5, built by the lead): start the app on
    127.0.0.1:0, POST 20 12 MP stills at once with aiohttp, and measure with
    ``loop_lag_during`` inside the server process. Until then the pool-only figure stands in.
    """
    return None


async def run_pool(images: list[bytes], total: int, concurrent: int) -> tuple[float, list[float]]:
    pool = DocumentPool(workers=os.cpu_count() or 2, max_pending=2 * (os.cpu_count() or 2))
    try:
        await pool.start()
        await pool.process(images[0])  # warm every import and cache in a worker
        rate = await pool_throughput(pool, images, total)
        lags = await loop_lag_during(
            lambda: asyncio.gather(*(pool.check(images[i % len(images)]) for i in range(concurrent)))
        )
    finally:
        await pool.close()
    return rate, lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer stills and repeats")
    args = parser.parse_args()
    n, repeats = (3, 2) if args.quick else (6, 4)
    cv2.setNumThreads(1)  # one core, as in a pool worker

    print(f"documents bench: {os.cpu_count()} cores, OpenCV {cv2.__version__}, "
          f"{n} stills x {repeats} per size, one thread")
    by_size: dict[str, list[bytes]] = {}
    for name, size in SIZES.items():
        images = by_size[name] = stills(size, n, seed=hash(name) % 1000)
        mb = statistics.mean(len(d) for d in images) / 1e6
        full = time_each(lambda d: process_image(d), images, repeats)
        check = time_each(lambda d: check_image(d), images, repeats)
        print(f"  {name} {size[0]}x{size[1]} ({mb:.1f} MB): process p50 {percentile(full, 50):.0f} ms "
              f"p95 {percentile(full, 95):.0f} ms; check only p50 {percentile(check, 50):.0f} ms "
              f"p95 {percentile(check, 95):.0f} ms")
        if name == "12MP":
            p50_12, p95_12 = percentile(full, 50), percentile(full, 95)
            decode = time_each(lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR), images, repeats)
            print(f"  baseline: cv2.imdecode of the same 12MP JPEGs p50 {percentile(decode, 50):.0f} ms "
                  f"p95 {percentile(decode, 95):.0f} ms")

    total = 12 if args.quick else 40
    rate, lags = asyncio.run(run_pool(by_size["12MP"], total=total, concurrent=20))
    lag99 = percentile(lags, 99) if lags else float("nan")
    print(f"  pool: {os.cpu_count()} workers, {total} x 12MP process(): {rate:.1f} stills/s")
    print(f"  loop lag while 20 concurrent pool checks run: p50 {percentile(lags, 50):.1f} ms "
          f"p99 {lag99:.1f} ms max {max(lags):.1f} ms ({len(lags)} ticks)")
    upload = asyncio.run(upload_loop_lag_p99())
    print(f"  loop lag p99 while 20 uploads run: {'not measured yet (needs the upload endpoint)' if upload is None else f'{upload:.1f} ms'}")
    print(f"documents: 12MP p50 {p50_12:.0f} p95 {p95_12:.0f}, stills/s {rate:.1f}, loop lag p99 {lag99:.1f}")


if __name__ == "__main__":
    main()
