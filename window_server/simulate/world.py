"""What every simulated client shares: the server, the recorder, the clock, the catalogue's facts."""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from window_server.domain.routing import region_contains
from window_server.simulate.http import SimHttp
from window_server.simulate.model import Citizen, SimConfig
from window_server.simulate.recorder import AckRecorder
from window_server.simulate.wire import ssl_context, ws_url

if TYPE_CHECKING:
    from window_server.simulate.specialist import SimSpecialist


@dataclass(frozen=True)
class Matter:
    code: str
    region: str
    audience: str
    required: tuple[str, ...]
    """the kinds of its required materials (a needs_supplement outcome lists some of them)."""


@dataclass(frozen=True)
class Centre:
    id: str
    region: str
    serves: tuple[str, ...]

    def is_own(self, home_region: str) -> bool:
        """Its specialists are offered ``home_region``'s sessions at once (not only once widened)."""
        return region_contains(home_region, self.region)


@dataclass
class World:
    """The shared state of one run. ``stopping``: no more arrivals; ``closing``: clear and go."""

    cfg: SimConfig
    http: aiohttp.ClientSession
    recorder: AckRecorder = field(default_factory=AckRecorder)
    citizens: list[Citizen] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    specialists: list[SimSpecialist] = field(default_factory=list)
    centres: dict[str, Centre] = field(default_factory=dict)
    matters: dict[str, Matter] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    """sessions whose ``complete`` a simulated specialist had acknowledged (``verify`` checks them)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.api = SimHttp(self.http, self.cfg.base, self.recorder)
        self.url = ws_url(self.cfg.base)
        self.ssl: ssl.SSLContext | None = ssl_context(self.cfg.ca_file)
        self.rng = random.Random(self.cfg.seed)

    def child_rng(self) -> random.Random:
        """An independent stream for one client, drawn from the run's seed."""
        return random.Random(self.rng.getrandbits(64))

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def wall(self, sim_s: float) -> float:
        """Wall-clock seconds of ``sim_s`` simulated seconds."""
        return sim_s / self.cfg.speed

    async def sleep(self, sim_s: float) -> bool:
        """Sleep ``sim_s`` simulated seconds; False (at once) if the run is closing meanwhile."""
        if self.closing.is_set():
            return False
        try:
            async with asyncio.timeout(self.wall(sim_s)):
                await self.closing.wait()
        except TimeoutError:
            return True
        return False

    def transfer_targets(self, region: str, own_centre: str) -> list[str]:
        """Centres of other signed-in simulated specialists authorised for ``region``."""
        out = set()
        for sp in self.specialists:
            c = self.centres.get(sp.centre)
            if c is not None and c.id != own_centre and sp.signed_in and region in c.serves:
                out.add(c.id)
        return sorted(out)
