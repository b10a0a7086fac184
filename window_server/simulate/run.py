"""One simulation run: discover the chain, sign everyone in, arrivals, drain, figures, verify."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from window_server.simulate.booth import SimBooth
from window_server.simulate.http import SimHttp
from window_server.simulate.model import (
    DEMO_PASSWORD,
    Citizen,
    SimConfig,
    Summary,
    figures,
    interarrival_s,
    weighted,
)
from window_server.simulate.recorder import AckRecorder, Refused
from window_server.simulate.specialist import SimSpecialist
from window_server.simulate.wire import ConnectRefused, new_http
from window_server.simulate.world import Centre, Matter, World

log = logging.getLogger(__name__)

TICK_S = 2.0
DEFAULT_SL_S = 60.0  # RW_SERVICE_LEVEL_SECONDS's default
DEFAULT_SHORT_S = 10.0  # RW_SHORT_ABANDON_SECONDS's default
LOGINS_IN_FLIGHT = 2
"""The server reserves a failure slot per client address for every login in flight and locks the
address beyond RW_LOGIN_MAX_FAILURES (5): every simulated specialist comes from one address."""


class SimError(Exception):
    """The run cannot start: bad configuration, too few accounts (``usage``), the server unreachable."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


async def run_simulation(cfg: SimConfig, on_tick: Callable[[Summary], Any] | None = None,
                         stop: asyncio.Event | None = None) -> Summary:
    """Drive ``cfg.booths`` booths and ``cfg.specialists`` specialists against ``cfg.base``.

    Arrivals stop after ``cfg.minutes`` simulated minutes (or when ``stop`` is set); open
    sessions then get ``cfg.drain_s`` wall seconds to end; the figures are taken then, and what is
    still open is cleared (a held session completed, a waiting ticket leaves: ``server['cleared']``).
    ``on_tick(summary)`` is called every ``TICK_S`` seconds with the figures so far.
    """
    if problems := cfg.problems():
        raise SimError("; ".join(problems), usage=True)
    async with new_http(cfg.ca_file) as http:
        world = World(cfg, http)
        booths, specialists = await _cast(world)
        manager = _Manager(world, cfg)
        thresholds = await manager.thresholds()
        sl_s = cfg.sl_seconds if cfg.sl_seconds is not None else float(thresholds.get("t_answer_s") or DEFAULT_SL_S)
        short_s = float(thresholds.get("s_short_s", DEFAULT_SHORT_S))
        started = time.monotonic()

        def snapshot() -> Summary:
            s = figures(world.citizens, speed=cfg.speed, sl_seconds=sl_s, short_s=short_s, counts=world.counts)
            s.acks = list(world.recorder.acks)
            s.errors = dict(world.recorder.errors)
            s.wall_s = time.monotonic() - started
            return s

        tasks: list[asyncio.Task[Any]] = []
        try:
            await _connect_all(world, specialists, booths)
            if not booths:
                raise SimError("no booth could connect: " + _errors(world.recorder))
            tasks += [asyncio.create_task(sp.run(), name=f"sim {sp.username}") for sp in specialists]
            tasks += [asyncio.create_task(b.run(), name=f"sim {b.booth}") for b in booths]
            tasks += [asyncio.create_task(_arrivals(world, b, len(booths)), name=f"arrivals {b.booth}")
                      for b in booths]
            ticker = asyncio.create_task(_ticker(snapshot, on_tick)) if on_tick is not None else None
            await _window(world, stop)
            world.stopping.set()
            await _drain(world, booths, stop)
            summary = snapshot()
            world.closing.set()
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await _settle(tasks)
            before = world.counts["cleared"]
            await _gather(sp.clear() for sp in specialists)  # held sessions are completed first,
            await _gather(b.clear() for b in booths)  # then tickets still waiting leave
            summary.server["cleared"] = world.counts["cleared"] - before
        finally:
            world.closing.set()
            for t in tasks:
                t.cancel()
            await _settle(tasks)
            await _gather([*(sp.close() for sp in specialists), *(b.close() for b in booths)])
        summary.server.update(await manager.kpis())
        if cfg.verify:
            summary.verified, summary.lost = await manager.verify(world.citizens, world.completed)
        return summary


# --- who plays --------------------------------------------------------------------------------


async def _cast(world: World) -> tuple[list[SimBooth], list[SimSpecialist]]:
    """The booths and specialists of the run (demo accounts unless given), logged in, the chain known."""
    cfg, api = world.cfg, world.api
    try:
        catalogue = await api.get("/api/catalogue")
    except Refused as exc:
        raise SimError(f"cannot read {cfg.base}/api/catalogue: {exc}") from None
    order = _centre_order(catalogue)
    booth_accounts = cfg.booth_accounts
    if booth_accounts is None:
        booth_accounts = tuple((f"{c}-01", f"demo-{c}-01") for c in order)
        if cfg.booths > len(booth_accounts):
            raise SimError(f"--booths {cfg.booths}: the demo chain has {len(booth_accounts)} booths (one per "
                           f"centre); run against the embedded demo with more accounts (python -m window_server "
                           f"--simulate creates them) or pass booth accounts (window_server.simulate.provision)", usage=True)
    elif cfg.booths > len(booth_accounts):
        raise SimError(f"--booths {cfg.booths}: only {len(booth_accounts)} booth accounts were given", usage=True)
    spec_accounts = cfg.specialist_accounts
    if spec_accounts is None:
        spec_accounts = tuple((f"spec-{c}", DEMO_PASSWORD) for c in order)
        if cfg.specialists > len(spec_accounts):
            raise SimError(f"--specialists {cfg.specialists}: the demo chain has {len(spec_accounts)} specialists "
                           f"(spec-<centre>, one per centre); run against the embedded demo with more accounts or "
                           f"pass specialist accounts (window_server.simulate.provision)", usage=True)
    elif cfg.specialists > len(spec_accounts):
        raise SimError(f"--specialists {cfg.specialists}: only {len(spec_accounts)} specialist accounts were given",
                       usage=True)
    specialists = [SimSpecialist(world, u, p) for u, p in spec_accounts[:cfg.specialists]]
    world.specialists = specialists
    await _gather_limited((sp.login() for sp in specialists), LOGINS_IN_FLIGHT)
    for sp in [sp for sp in specialists if not sp.cookie]:
        specialists.remove(sp)
    if cfg.specialists and not specialists:
        raise SimError("no specialist could log in: " + _errors(world.recorder))
    if specialists:
        ctx = await api.get("/api/console/context", specialists[0].cookie)
        world.centres = {cid: Centre(cid, str(c.get("region", "")), tuple(c.get("serves") or ()))
                         for cid, c in (ctx.get("centres") or {}).items()}
    audience = {str(m["code"]): str(m.get("audience", "person")) for m in catalogue.get("matters", [])}
    world.matters = {str(m["code"]): Matter(str(m["code"]), str(m.get("region", "")), audience[str(m["code"])],
                                            tuple(str(x["kind"]) for x in m.get("materials", []) if x.get("required")))
                     for m in catalogue.get("matters", [])}
    booths = [SimBooth(world, b, t) for b, t in booth_accounts[:cfg.booths]]
    return booths, specialists


def _centre_order(catalogue: dict[str, Any]) -> list[str]:
    """The chain's centres in the catalogue's order (its file's): neighbours share regions."""
    return list(catalogue.get("centres", {}))


def matter_pool(world: World) -> tuple[list[str], list[str]]:
    """(personal, company) matter codes the citizens ask for: those a signed-in specialist's centre
    is offered at once (its own tier); else those any of them serves; else the whole catalogue."""
    centres = [world.centres[sp.centre] for sp in world.specialists if sp.centre in world.centres]
    own = [m for m in world.matters.values() if any(c.is_own(m.region) for c in centres)]
    served = [m for m in world.matters.values() if any(m.region in c.serves for c in centres)]
    pool = own or served or list(world.matters.values())
    return ([m.code for m in pool if m.audience == "person"], [m.code for m in pool if m.audience != "person"])


async def _connect_all(world: World, specialists: list[SimSpecialist], booths: list[SimBooth]) -> None:
    n = world.cfg.connect_concurrency

    async def one(client: SimSpecialist | SimBooth) -> bool:
        try:
            await client.connect()
        except (Refused, ConnectRefused):
            return False
        return True

    for group in (specialists, booths):
        ok = await _gather_limited((one(c) for c in group), n)
        failed = [c for c, good in zip(list(group), ok, strict=True) if not good]
        for c in failed:
            group.remove(c)  # type: ignore[arg-type]  # the list's own element type
        if failed:
            log.warning("simulate: %d of %d clients could not connect: %s", len(failed), len(failed) + len(group),
                        _errors(world.recorder))


# --- time -------------------------------------------------------------------------------------


async def _arrivals(world: World, booth: SimBooth, n_booths: int) -> None:
    """Citizens arrive at ``booth`` by a Poisson process of ``per_hour / n_booths``."""
    cfg, rng = world.cfg, booth.rng
    per_hour = cfg.per_hour / n_booths
    person, company = matter_pool(world)
    while not world.stopping.is_set():
        try:
            async with asyncio.timeout(world.wall(interarrival_s(rng, per_hour))):
                await world.stopping.wait()
            return
        except TimeoutError:
            pass
        codes = person if (rng.random() < cfg.shares.person_share and person) or not company else company
        c = Citizen(booth=booth.booth, matter=rng.choice(codes), priority=weighted(rng, cfg.shares.priority, ""),
                    arrived=world.now())
        world.citizens.append(c)
        booth.arrive(c)


async def _window(world: World, stop: asyncio.Event | None) -> None:
    """Until ``minutes`` simulated minutes have passed, or ``stop`` is set."""
    limit = None if math.isinf(world.cfg.minutes) else world.wall(world.cfg.minutes * 60.0)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await (stop or asyncio.Event()).wait()


async def _drain(world: World, booths: list[SimBooth], stop: asyncio.Event | None) -> None:
    """Let the citizens already here finish (served, left, rated), at most ``drain_s`` seconds."""
    if stop is not None and stop.is_set():
        return  # Ctrl-C: clear at once
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(world.cfg.drain_s):
            for b in booths:
                await b.idle.wait()


async def _ticker(snapshot: Callable[[], Summary], on_tick: Callable[[Summary], Any]) -> None:
    while True:
        await asyncio.sleep(TICK_S)
        result = on_tick(snapshot())
        if asyncio.iscoroutine(result):
            await result


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    """Let the client tasks finish what they were doing (closing is set), then cancel the rest."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=10.0)
    for t in pending:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


async def _gather(aws: Iterable[Awaitable[Any]]) -> None:
    await asyncio.gather(*aws, return_exceptions=True)


async def _gather_limited(aws: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(max(1, limit))

    async def one(aw: Awaitable[Any]) -> Any:
        async with gate:
            try:
                return await aw
            except (Refused, ConnectRefused):
                return None

    return list(await asyncio.gather(*(one(a) for a in aws)))


def _errors(recorder: AckRecorder) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in recorder.errors.most_common(5)) or "no error code"


# --- the manager's view -------------------------------------------------------------------------


class _Manager:
    """A dashboard login (optional): thresholds, the server's own figures, the session export."""

    def __init__(self, world: World, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.api = SimHttp(world.http, cfg.base, AckRecorder())  # its errors are not the clients'
        self.cookie = ""
        self.meta: dict[str, Any] = {}

    async def _login(self) -> bool:
        if self.cookie or self.cfg.manager is None:
            return bool(self.cookie)
        try:
            self.cookie = await self.api.login(*self.cfg.manager)
            self.meta = await self.api.get("/api/dashboard/meta", self.cookie)
        except Refused as exc:
            log.info("simulate: no dashboard figures (%s)", exc.code)
            self.cookie = ""
        return bool(self.cookie)

    async def thresholds(self) -> dict[str, Any]:
        if not await self._login():
            return {}
        return dict(self.meta.get("thresholds") or {})

    def _range(self) -> str:
        today = dt.date.fromisoformat(str(self.meta.get("today") or dt.date.today().isoformat()))
        return f"from={(today - dt.timedelta(days=1)).isoformat()}&to={today.isoformat()}"

    async def kpis(self) -> dict[str, Any]:
        """The dashboard's KPIs of yesterday and today, the whole chain (all traffic, not only ours)."""
        if not await self._login():
            return {}
        try:
            data = await self.api.get(f"/api/dashboard/kpis?{self._range()}&group=total", self.cookie)
        except Refused:
            return {}
        total = data.get("total") or {}
        keys = ("tickets", "served", "abandoned", "completed", "ratings", "transfers", "transfers_accepted",
                "service_level", "asa_s", "aht_s", "abandonment_rate")
        return {k: total.get(k) for k in keys}

    async def export(self) -> dict[str, dict[str, str]]:
        """sid -> row of the dashboard's session export (yesterday and today)."""
        if not await self._login():
            raise SimError("verify needs a manager login that may read the dashboard export")
        _data, resp = await self.api.call("GET", f"/api/dashboard/export/sessions.csv?{self._range()}",
                                          cookie=self.cookie)
        text = _data if isinstance(_data, str) else ""
        rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        return {r["sid"]: r for r in rows}

    async def verify(self, citizens: list[Citizen], completed: set[str]) -> tuple[int, int]:
        """(checked, lost): every acknowledged write is in the server's record as acknowledged:
        tickets, leaves, hang-ups, completions (``completed``: acknowledged to a specialist), ratings."""
        rows = await self.export()
        checked = lost = 0
        for sid in completed:
            checked += 1
            lost += rows.get(sid, {}).get("state") not in ("completed", "rated")
        for c in citizens:
            if "request" not in c.acked:
                continue
            row = rows.get(c.sid)
            wants = [row is not None]
            if row is not None:
                if "leave" in c.acked:
                    wants.append(row["state"] == "abandoned")
                if "hang_up" in c.acked:
                    wants.append(row["state"] in ("completed", "rated"))
                if "rate" in c.acked:
                    wants.append(row["rating"] == str(c.rated))
            checked += len(wants)
            lost += wants.count(False)
        return checked, lost

