"""``python -m window_server simulate …`` and the demo's ``--simulate`` traffic."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from window_server.simulate.model import (
    GENTLE_PER_HOUR,
    SimConfig,
    Summary,
    fmt_ms,
    fmt_pct,
    fmt_s,
    pct99,
)
from window_server.simulate.provision import provision_accounts
from window_server.simulate.run import SimError, run_simulation

log = logging.getLogger(__name__)

PROG = "python -m window_server simulate"
GENTLE_BOOTHS = 8
GENTLE_SPECIALISTS = 6
LIVE_EVERY_S = 10.0  # --simulate: one live line this often (the server's log shares the terminal)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # exit 2 with our prefix
        self.print_usage(sys.stderr)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Simulated booths and specialists driving the public protocol "
                                       "(signaling only, no media); docs/simulate.md.")
    p.add_argument("--booths", type=int, required=True, metavar="N", help="simulated booths (kiosks)")
    p.add_argument("--specialists", type=int, required=True, metavar="M", help="simulated specialists")
    p.add_argument("--per-hour", type=float, required=True, metavar="R",
                   help="citizens arriving per (simulated) hour, all booths together (Poisson)")
    p.add_argument("--minutes", type=float, required=True, metavar="T", help="simulated minutes of arrivals")
    p.add_argument("--base", default="http://127.0.0.1:8080", metavar="URL",
                   help="the server (or nginx) to drive, http(s)://host:port (default http://127.0.0.1:8080)")
    p.add_argument("--ca-file", type=Path, default=None, metavar="F", help="PEM CA to trust for an https base")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="time compression: X simulated seconds per wall second (default 1)")
    p.add_argument("--drain", type=float, default=60.0, metavar="SECONDS",
                   help="wall seconds for open sessions to end after the arrivals stop (default 60)")
    p.add_argument("--verify", action="store_true",
                   help="afterwards, check every acknowledged write in the server's session export")
    p.add_argument("--quiet", action="store_true", help="no live line, only the final figures")
    return p


def config_from(argv: Sequence[str]) -> SimConfig:
    """Parse the arguments; exit 2 with a message on bad ones."""
    ns = parser().parse_args(list(argv))
    cfg = SimConfig(base=ns.base, booths=ns.booths, specialists=ns.specialists, per_hour=ns.per_hour,
                    minutes=ns.minutes, seed=ns.seed, ca_file=ns.ca_file, speed=ns.speed, drain_s=ns.drain,
                    verify=ns.verify)
    if problems := cfg.problems():
        parser().error("; ".join(problems))
    if not (ns.drain >= 0 and math.isfinite(ns.drain)):
        parser().error("--drain must be a non-negative number")
    return cfg


def report(s: Summary) -> list[str]:
    """The final figures, as a manager reads them."""
    lines = [
        f"ran {s.wall_s:.0f} s at speed {s.speed:g} ({s.wall_s * s.speed / 60:.1f} simulated min with the drain): "
        f"{s.arrivals} arrivals, {s.offered} tickets, {s.at_booth} still in line at a busy booth"
        + (f", {s.refused} refused a ticket" if s.refused else ""),
        f"  answered {s.answered}, abandoned {s.abandoned} ({s.short_abandons} short), still waiting {s.waiting}; "
        f"completed {s.completed} (citizen hung up {s.hung_up}), transferred {s.transferred}, rated {s.rated} "
        f"{dict(sorted(s.rating_levels.items()))}; offers declined {s.declined}, missed {s.missed}",
        f"  service level {fmt_pct(s.sl)} (answered within {s.sl_seconds:g} s), ASA {fmt_s(s.asa_s)}, "
        f"abandonment {fmt_pct(s.abandonment)}, AHT {fmt_s(s.aht_s)} (accept to completion)",
        f"  acks {len(s.acks)}, p50 {fmt_ms(_q(s.acks, 0.5))} p99 {fmt_ms(pct99(s.acks))} max "
        f"{fmt_ms(max(s.acks) if s.acks else None)}; errors {dict(sorted(s.errors.items())) or 'none'}",
    ]
    if s.server:
        srv = s.server
        lines.append(f"  server's dashboard (yesterday and today, all traffic): tickets {srv.get('tickets')}, "
                     f"served {srv.get('served')}, abandoned {srv.get('abandoned')}, completed "
                     f"{srv.get('completed')}, ratings {srv.get('ratings')}, SL {fmt_pct(srv.get('service_level'))}, "
                     f"ASA {fmt_s(srv.get('asa_s'))} (wall seconds), cleared at the end {srv.get('cleared', 0)}")
    if s.verified:
        lines.append(f"  verify: {s.verified} acknowledged facts checked, lost {s.lost}")
    lines.append(f"simulate: SL {fmt_pct(s.sl)}, ASA {fmt_s(s.asa_s)}, abandonment {fmt_pct(s.abandonment)}, "
                 f"AHT {fmt_s(s.aht_s)}, ack p99 {fmt_ms(pct99(s.acks))}, lost {s.lost}")
    return lines


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: Sequence[str]) -> int:
    """The ``simulate`` subcommand: run, print a live line every few seconds, then the figures."""
    cfg = config_from(argv)
    quiet = "--quiet" in argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def tick(s: Summary) -> None:
        if not quiet:
            print(f"[{s.wall_s:5.0f} s] {s.line()}", flush=True)

    async def go() -> Summary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)  # Ctrl-C: stop arrivals, clear, report
        return await run_simulation(cfg, on_tick=tick, stop=stop)

    try:
        summary = asyncio.run(go())
    except SimError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    for line in report(summary):
        print(line, flush=True)
    return 0


async def simulate_demo(base: str, redis_url: str, stop: asyncio.Event, *, secret: str = "",
                        centres_file: Path | None = None, matters_file: Path | None = None) -> None:
    """``--simulate``: gentle traffic against the demo server at ``base`` until ``stop``.

    Its booths and specialists are accounts of their own (``sim-b…``, ``sim-s…``) registered in
    the demo's Redis, so the demo logins printed in the banner stay free for a person to try.
    """
    from window_server.runtime.catalogue import load_catalogue

    booths, specialists = await provision_accounts(
        redis_url, booths=GENTLE_BOOTHS, specialists=GENTLE_SPECIALISTS,
        catalogue=load_catalogue(centres_file, matters_file), secret=secret)
    cfg = SimConfig(base=base, booths=GENTLE_BOOTHS, specialists=GENTLE_SPECIALISTS, per_hour=GENTLE_PER_HOUR,
                    minutes=math.inf, seed=1, drain_s=0.0, booth_accounts=booths, specialist_accounts=specialists)
    print(f"Simulated traffic: {GENTLE_BOOTHS} booths and {GENTLE_SPECIALISTS} specialists (sim-b…, sim-s…), "
          f"{GENTLE_PER_HOUR:g} citizens an hour; the dashboards show them.", flush=True)
    last = 0.0

    def tick(s: Summary) -> None:
        nonlocal last
        if s.wall_s - last >= LIVE_EVERY_S:
            last = s.wall_s
            print(f"simulate: {s.line()}", flush=True)

    try:
        summary = await run_simulation(cfg, on_tick=tick, stop=stop)
    except SimError as exc:
        log.warning("simulated traffic did not start: %s", exc)
        return
    with contextlib.suppress(Exception):
        print(report(summary)[-1], flush=True)
