"""Queue use cases with the demo catalogue on real Redis: bad input is refused, nothing changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import RemoteWindowError
from window_server.domain.routing import region_contains
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore, QueueTiming
from window_server.queue.ticker import run_ticker
from window_server.runtime.catalogue import load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(None, None)


@pytest.fixture
async def service(redis: Redis, catalogue: Catalogue) -> AsyncIterator[QueueService]:
    store = QueueStore(redis, QueueTiming(offer_ms=300, heartbeat_ttl_ms=60_000), time.time)
    await store.load()
    yield QueueService(store, catalogue)


def a_matter_and_centre(catalogue: Catalogue) -> tuple[str, str]:
    """A matter and a centre of its home region (served at once, before any widening)."""
    m = catalogue.matters[0]
    own = [c for c in catalogue.centres_serving(m.home_region) if region_contains(m.home_region, c.region)]
    return m.code, own[0].id


async def expect(code: str, coro: Any) -> RemoteWindowError:
    with pytest.raises(RemoteWindowError) as info:
        await coro
    assert info.value.code == code, info.value.message
    return info.value


async def test_unknown_matter_and_centre(service: QueueService, redis: Redis) -> None:
    matter, centre = a_matter_and_centre(service.catalogue)
    err = await expect("unknown_matter", service.request_service(booth="b1", intake_centre=centre, matter="nope", consent=True))
    assert err.field == "matter" and err.http_status == 404
    await expect("unknown_centre", service.request_service(booth="b1", intake_centre="nowhere", matter=matter, consent=True))
    await expect("consent_required", service.request_service(booth="b1", intake_centre=centre, matter=matter))
    await expect("invalid_input", service.request_service(booth="b1", intake_centre=centre, matter=matter,
                                                          consent=True, priority="vip"))
    assert await redis.dbsize() == 0  # nothing was written


async def test_a_session_through_the_service(service: QueueService) -> None:
    matter, centre = a_matter_and_centre(service.catalogue)
    res = await service.request_service(booth="b1", intake_centre="sh-huangpu", matter=matter,
                                        priority="elderly", consent=True)
    sid = res.ok["sid"]
    await service.agent_login("spec-1", centre)
    offer = (await service.store.presence("spec-1", "available")).ok["offer"]
    assert offer == sid
    await service.store.accept("spec-1", sid)
    await expect("reason_required", service.transfer("spec-1", sid, reason="  ", to_agent="x"))
    await expect("invalid_target", service.transfer("spec-1", sid, reason="r"))
    await expect("unknown_centre", service.transfer("spec-1", sid, reason="r", to_centre="nowhere"))
    await expect("invalid_input", service.complete("spec-1", sid, "done-ish"))
    await expect("identity_required", service.complete("spec-1", sid, "intake"))
    await service.note("spec-1", sid, "asked about postal delivery")
    await service.complete("spec-1", sid, "consultation", case_number="HZ-1")
    await expect("invalid_rating", service.rate(sid, "b1", 6))
    await expect("invalid_rating", service.rate(sid, "b1", True))
    await expect("not_your_session", service.rate(sid, "b2", 5))
    await service.rate(sid, "b1", 4, "clear and quick")
    await expect("already_rated", service.rate(sid, "b1", 5))
    assert (await service.store.session(sid))["rating"] == "4"


async def test_transfer_to_a_centre_not_authorised_for_the_region(service: QueueService) -> None:
    cat = service.catalogue
    matter, centre = a_matter_and_centre(cat)
    region = cat.matter(matter).home_region
    outsider = next(c.id for c in cat.centres if not c.serves(region))
    sid = (await service.request_service(booth="b1", intake_centre="sh-huangpu", matter=matter, consent=True)).ok["sid"]
    await service.agent_login("spec-1", centre)
    await service.store.presence("spec-1", "available")
    await service.store.accept("spec-1", sid)
    await expect("centre_not_authorised", service.transfer("spec-1", sid, reason="r", to_centre=outsider))
    assert (await service.store.session(sid))["state"] == "in_service"


async def test_the_ticker_times_out_an_offer_on_the_real_clock(service: QueueService) -> None:
    matter, centre = a_matter_and_centre(service.catalogue)
    await service.agent_login("spec-1", centre)
    await service.store.presence("spec-1", "available")
    sid = (await service.request_service(booth="b1", intake_centre="sh-huangpu", matter=matter, consent=True)).ok["sid"]
    timed_out = asyncio.Event()

    async def sink(fx: list[dict[str, Any]]) -> None:
        if any(e.get("act") == "offer_timeout" and e.get("sid") == sid for e in fx):
            timed_out.set()

    task = asyncio.create_task(run_ticker(service.store, sink, max_interval=0.05))
    try:
        async with asyncio.timeout(10):
            await timed_out.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await service.store.session(sid))["state"] == "waiting"
